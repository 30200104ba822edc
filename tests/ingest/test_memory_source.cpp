// SPDX-License-Identifier: GPL-3.0-or-later
// MemorySource (ingest/memory): a caller's 4-D array as one series, read in place.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <vector>

#include "ingest/memory/memory_source.hpp"
#include "source_harness.hpp"

namespace stemflow {
namespace {

ingest::MemoryArray c_array(const std::vector<std::uint16_t>& v,
                            std::array<std::uint32_t, 4> shape) {
  ingest::MemoryArray a;
  a.data = reinterpret_cast<const std::byte*>(v.data());
  a.shape = shape;
  a.dtype = Dtype::kU16;
  const std::int64_t e = 2;
  a.strides = {e * shape[1] * shape[2] * shape[3], e * shape[2] * shape[3], e * shape[3], e};
  return a;
}

// Spec: a C-contiguous array gives every frame once, in scan order, and the batches point into
// the array itself (no copy).
TEST(MemorySource, ContiguousArrayIsReadInPlace) {
  std::vector<std::uint16_t> v(5 * 3 * 4 * 6);
  std::iota(v.begin(), v.end(), 0);
  BatchPool pool(1 << 20);
  ingest::MemorySource src(pool, c_array(v, {5, 3, 4, 6}));
  EXPECT_TRUE(src.zero_copy());
  ASSERT_EQ(src.next(), SourceStatus::kSeriesStarted);
  EXPECT_EQ(src.header().scan_rows, 5u);
  EXPECT_EQ(src.header().frame_cols, 6u);
  pool.configure(src.header(), 4, {});
  ASSERT_EQ(src.next(), SourceStatus::kBatchReady);
  FrameBatch* b = src.take_batch();
  const auto* base = reinterpret_cast<const std::byte*>(v.data());
  EXPECT_EQ(b->pixels, base);  // the array, not the pool
  EXPECT_EQ(b->count, 4u);
  pool.release(b);
  std::uint64_t frames = 4;
  for (;;) {
    const auto s = src.next();
    if (s != SourceStatus::kBatchReady) {
      EXPECT_EQ(s, SourceStatus::kSeriesEnded);
      break;
    }
    b = src.take_batch();
    EXPECT_EQ(b->pixels, base + b->index[0] * 48);
    for (std::uint32_t i = 0; i < b->count; ++i) EXPECT_EQ(b->index[i], frames + i);
    frames += b->count;
    pool.release(b);
  }
  EXPECT_EQ(frames, 15u);
  EXPECT_EQ(src.counts().frames_accepted, 15u);
  EXPECT_EQ(src.counts().end, SeriesEnd::kEndOfFile);
  EXPECT_EQ(src.next(), SourceStatus::kFinished);
}

// Spec: a strided view (every other scan row, frames transposed) is gathered frame by frame into
// the pool's slots and gives the same frames as the contiguous copy.
TEST(MemorySource, StridedViewIsGathered) {
  std::vector<std::uint16_t> v(6 * 2 * 3 * 4);
  std::iota(v.begin(), v.end(), 0);
  auto a = c_array(v, {6, 2, 3, 4});
  ingest::MemoryArray view = a;
  view.shape = {3, 2, 4, 3};  // [::2] and frames transposed
  view.strides = {2 * a.strides[0], a.strides[1], a.strides[3], a.strides[2]};
  BatchPool pool(1 << 20);
  ingest::MemorySource src(pool, view);
  EXPECT_FALSE(src.zero_copy());
  auto got = test::drain(src, pool, 1, std::chrono::seconds(10), 4);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].frames, 6u);
  for (std::uint32_t rx = 0; rx < 3; ++rx) {
    for (std::uint32_t ry = 0; ry < 2; ++ry) {
      const auto* f = reinterpret_cast<const std::uint16_t*>(got[0].frame(rx * 2 + ry));
      for (std::uint32_t r = 0; r < 4; ++r) {
        for (std::uint32_t c = 0; c < 3; ++c) {
          EXPECT_EQ(f[r * 3 + c], v[((2 * rx * 2 + ry) * 3 + c) * 4 + r]);
        }
      }
    }
  }
}

// Edge case: stop() after the first batch ends the series as interrupted with what was handed
// over; a series the engine rejects is counted as series_rejected, frame by frame.
TEST(MemorySource, StopAndReject) {
  std::vector<std::uint16_t> v(10 * 10 * 2 * 2, 1);
  BatchPool pool(1 << 20);
  {
    ingest::MemorySource src(pool, c_array(v, {10, 10, 2, 2}));
    ASSERT_EQ(src.next(), SourceStatus::kSeriesStarted);
    pool.configure(src.header(), 8, {});
    ASSERT_EQ(src.next(), SourceStatus::kBatchReady);
    pool.release(src.take_batch());
    src.request_stop();
    ASSERT_EQ(src.next(), SourceStatus::kSeriesEnded);
    EXPECT_EQ(src.counts().end, SeriesEnd::kInterrupted);
    EXPECT_EQ(src.counts().frames_accepted, 8u);
  }
  ingest::MemorySource src(pool, c_array(v, {10, 10, 2, 2}));
  ASSERT_EQ(src.next(), SourceStatus::kSeriesStarted);
  src.reject_series();
  ASSERT_EQ(src.next(), SourceStatus::kSeriesEnded);
  EXPECT_EQ(src.counts().frames_received, 100u);
  EXPECT_EQ(src.counts().dropped[static_cast<std::size_t>(DropReason::kSeriesRejected)], 100u);
}

}  // namespace
}  // namespace stemflow
