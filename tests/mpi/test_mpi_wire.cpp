// SPDX-License-Identifier: GPL-3.0-or-later
// The results traffic between the ranks of a job, without MPI: what rank 0 decodes is what a rank
// encoded, and a message that does not fit the receiving batch is refused, not guessed at.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "mpi/result_wire.hpp"

using namespace stemflow;

namespace {

// A batch of `capacity` frames with a scalar operator (2 per frame) and a peak operator.
FrameBatch make_batch(std::uint32_t capacity) {
  FrameBatch b;
  b.capacity = capacity;
  b.index.assign(capacity, 0);
  b.results.resize(2);
  b.results[0].scalars_per_frame = 2;
  b.results[1].scalars_per_frame = 1;
  b.results[1].max_peaks = 4;
  for (auto& r : b.results) r.resize(capacity);
  return b;
}

}  // namespace

TEST(MpiWire, ResultsRoundTrip) {
  FrameBatch a = make_batch(8);
  a.count = 5;
  for (std::uint32_t i = 0; i < a.count; ++i) {
    a.index[i] = 100 + 3 * i;
    a.results[0].frame_scalars(i)[0] = i * 1.5;
    a.results[0].frame_scalars(i)[1] = -double(i);
    a.results[1].frame_scalars(i)[0] = std::numeric_limits<double>::quiet_NaN();
    a.results[1].peak_counts[i] = i % 5;
    for (std::uint32_t k = 0; k < i % 5; ++k) {
      a.results[1].frame_peaks(i)[k] = Peak{i + 0.25 * k, 2.0 * k, 10.0 + i};
    }
  }
  a.results[0].failed[3] = 1;
  std::vector<std::byte> msg;
  mpi::encode_results(a, msg);

  FrameBatch b = make_batch(8);
  ASSERT_TRUE(mpi::decode_results(msg, b));
  ASSERT_EQ(b.count, a.count);
  for (std::uint32_t i = 0; i < a.count; ++i) {
    EXPECT_EQ(b.index[i], a.index[i]);
    EXPECT_EQ(b.results[0].failed[i], a.results[0].failed[i]);
    EXPECT_EQ(b.results[0].frame_scalars(i)[0], a.results[0].frame_scalars(i)[0]);
    EXPECT_EQ(b.results[0].frame_scalars(i)[1], a.results[0].frame_scalars(i)[1]);
    EXPECT_TRUE(std::isnan(b.results[1].frame_scalars(i)[0]));
    ASSERT_EQ(b.results[1].peak_counts[i], a.results[1].peak_counts[i]);
    for (std::uint32_t k = 0; k < a.results[1].peak_counts[i]; ++k) {
      EXPECT_EQ(b.results[1].frame_peaks(i)[k].qx, a.results[1].frame_peaks(i)[k].qx);
      EXPECT_EQ(b.results[1].frame_peaks(i)[k].intensity, a.results[1].frame_peaks(i)[k].intensity);
    }
  }
}

TEST(MpiWire, ResultsThatDoNotFitAreRefused) {
  FrameBatch a = make_batch(8);
  a.count = 8;
  std::vector<std::byte> msg;
  mpi::encode_results(a, msg);
  FrameBatch small = make_batch(4);  // fewer frames than sent
  EXPECT_FALSE(mpi::decode_results(msg, small));
  FrameBatch other = make_batch(8);
  other.results[1].max_peaks = 3;  // another layout
  other.results[1].resize(8);
  EXPECT_FALSE(mpi::decode_results(msg, other));
  FrameBatch b = make_batch(8);
  for (std::size_t cut : {std::size_t{0}, std::size_t{7}, msg.size() / 2, msg.size() - 1}) {
    EXPECT_FALSE(mpi::decode_results(std::span(msg).first(cut), b)) << cut;
  }
  msg.push_back(std::byte{0});
  EXPECT_FALSE(mpi::decode_results(msg, b));
}

TEST(MpiWire, EndRoundTripsAndImagesCombine) {
  mpi::EndMessage e;
  e.counts.frames_received = 42;
  e.counts.dropped[1] = 3;
  e.counts.end = SeriesEnd::kInterrupted;
  SeriesImage mean{"", 1, 3, {1.0, 2.0, std::numeric_limits<double>::quiet_NaN()}, "counts"};
  mean.combine = Combine::kMean;
  mean.frames = 1;
  e.images = {{}, {mean}};
  std::vector<std::byte> msg;
  mpi::encode_end(e, msg);
  auto d = mpi::decode_end(msg);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->counts.frames_received, 42u);
  EXPECT_EQ(d->counts.dropped[1], 3u);
  EXPECT_EQ(d->counts.end, SeriesEnd::kInterrupted);
  ASSERT_EQ(d->images.size(), 2u);
  ASSERT_EQ(d->images[1].size(), 1u);
  EXPECT_EQ(d->images[1][0].combine, Combine::kMean);

  // A mean of 1 frame and a mean of 3 frames: weighted by frames; NaN (no frame) is no value.
  SeriesImage mine{"", 1, 3, {5.0, 6.0, 7.0}, "counts"};
  mine.combine = Combine::kMean;
  mine.frames = 3;
  ASSERT_TRUE(combine_into(mine, d->images[1][0]));
  EXPECT_DOUBLE_EQ(mine.values[0], (5.0 * 3 + 1.0) / 4);
  EXPECT_DOUBLE_EQ(mine.values[1], (6.0 * 3 + 2.0) / 4);
  EXPECT_DOUBLE_EQ(mine.values[2], 7.0);
  EXPECT_EQ(mine.frames, 4u);
  SeriesImage wrong{"x", 1, 3, {0, 0, 0}, "counts"};
  wrong.combine = Combine::kMean;
  EXPECT_FALSE(combine_into(mine, wrong));

  for (std::size_t cut : {std::size_t{3}, msg.size() - 1}) {
    EXPECT_FALSE(mpi::decode_end(std::span(msg).first(cut))) << cut;
  }
}

TEST(MpiWire, SeriesEventsRoundTrip) {
  SeriesPeers::Event e;
  e.kind = SeriesPeers::Event::Kind::kStart;
  e.header.series_id = 7;
  e.header.scan_rows = 3;
  e.header.scan_cols = 5;
  e.header.frame_rows = 64;
  e.header.frame_cols = 32;
  e.header.dtype = Dtype::kU32;
  e.header.detector = "ARINA";
  e.header.metadata = {{"series_unique_id", "abc"}, {"beam_energy", "300000"}};
  std::vector<std::byte> msg;
  mpi::encode_event(e, msg);
  auto d = mpi::decode_event(msg);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, e.kind);
  EXPECT_EQ(d->header.series_id, 7u);
  EXPECT_EQ(d->header.scan_cols, 5u);
  EXPECT_EQ(d->header.frame_rows, 64u);
  EXPECT_EQ(d->header.dtype, Dtype::kU32);
  EXPECT_EQ(d->header.detector, "ARINA");
  EXPECT_EQ(d->header.metadata, e.header.metadata);
  for (std::size_t cut : {std::size_t{0}, std::size_t{9}, msg.size() - 1}) {
    EXPECT_FALSE(mpi::decode_event(std::span(msg).first(cut))) << cut;
  }
  msg[0] = std::byte{9};  // no such kind
  EXPECT_FALSE(mpi::decode_event(msg));
}
