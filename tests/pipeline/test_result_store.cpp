// SPDX-License-Identifier: GPL-3.0-or-later
// The result store scatters batches into scan maps: values land at their scan position, failures
// and missing frames stay NaN, peaks are kept per position.
#include <gtest/gtest.h>

#include <cmath>

#include "pipeline/core/result_store.hpp"

using namespace stemflow;

namespace {

SeriesHeader series() {
  SeriesHeader h;
  h.scan_rows = 2;
  h.scan_cols = 3;
  h.frame_rows = h.frame_cols = 4;
  return h;
}

std::vector<OutputInfo> outputs() {
  OutputInfo vi{"vi", "virtual_image", {{{"", "counts"}}, 0}, {}};
  OutputInfo bragg{"bragg", "bragg_disks", {{{"count", "peaks"}}, 3}, {}};
  return {vi, bragg};
}

FrameBatch batch_of(const std::vector<std::uint64_t>& indices) {
  FrameBatch b;
  b.count = b.capacity = static_cast<std::uint32_t>(indices.size());
  b.index = indices;
  b.results.resize(2);
  b.results[0].scalars_per_frame = 1;
  b.results[1].scalars_per_frame = 1;
  b.results[1].max_peaks = 3;
  for (auto& r : b.results) r.resize(b.capacity);
  return b;
}

}  // namespace

// Spec: values go to their scan position; unreceived positions are NaN with coverage 0.
TEST(ResultStore, ScattersByIndex) {
  ResultStore store;
  const auto h = series();
  store.start(h, outputs());
  auto b = batch_of({4, 0});
  b.results[0].frame_scalars(0)[0] = 40;
  b.results[0].frame_scalars(1)[0] = 0.5;
  store.consume(b);
  EXPECT_EQ(store.map(0, 0)[4], 40);
  EXPECT_EQ(store.map(0, 0)[0], 0.5);
  EXPECT_TRUE(std::isnan(store.map(0, 0)[1]));
  EXPECT_EQ(store.coverage(), (std::vector<std::uint8_t>{1, 0, 0, 0, 1, 0}));
  EXPECT_EQ(store.frames_processed(), 2u);
}

// Spec: peak lists are kept per position, in the operator's order; positions without a frame
// have none.
TEST(ResultStore, KeepsPeakLists) {
  ResultStore store;
  store.start(series(), outputs());
  auto b = batch_of({2, 5});
  auto& r = b.results[1];
  r.frame_peaks(0)[0] = {1, 2, 3};
  r.frame_peaks(0)[1] = {4, 5, 6};
  r.peak_counts[0] = 2;
  r.frame_peaks(1)[0] = {7, 8, 9};
  r.peak_counts[1] = 1;
  store.consume(b);
  const auto p2 = store.peaks(1, 2);
  ASSERT_EQ(p2.size(), 2u);
  EXPECT_EQ(p2[1].qy, 5);
  ASSERT_EQ(store.peaks(1, 5).size(), 1u);
  EXPECT_EQ(store.peaks(1, 5)[0].intensity, 9);
  EXPECT_TRUE(store.peaks(1, 0).empty());
  EXPECT_EQ(store.peak_counts(1)[2], 2u);
}

// Spec: an operator's failure on a frame leaves NaN in that operator's maps only and counts the
// frame.
TEST(ResultStore, FailureLeavesNaNForThatOperator) {
  ResultStore store;
  store.start(series(), outputs());
  auto b = batch_of({1});
  b.results[0].frame_scalars(0)[0] = 11;
  b.results[1].failed[0] = 1;
  b.results[1].frame_scalars(0)[0] = 99;
  store.consume(b);
  EXPECT_EQ(store.map(0, 0)[1], 11);
  EXPECT_TRUE(std::isnan(store.map(1, 0)[1]));
  EXPECT_EQ(store.failures(1), 1u);
  EXPECT_EQ(store.failures(0), 0u);
  EXPECT_EQ(store.frames_failed(), 1u);
  EXPECT_EQ(store.coverage()[1], 1);
}
