// SPDX-License-Identifier: GPL-3.0-or-later
// Spec: the pool is the memory bound; slots are carved per series and never exceed memory_limit.
#include <gtest/gtest.h>

#include "pipeline/batch_pool.hpp"
#include "pipeline/expected.hpp"

using namespace stemflow;

namespace {
SeriesHeader series_of(std::uint32_t q, Dtype d) {
  SeriesHeader h;
  h.scan_rows = h.scan_cols = 8;
  h.frame_rows = h.frame_cols = q;
  h.dtype = d;
  return h;
}
}  // namespace

TEST(BatchPool, CarvesSlotsWithinTheLimit) {
  BatchPool pool(1 << 20);
  auto h = series_of(64, Dtype::kU16);  // 8 KiB frames
  const auto per_batch = pool.configure(h, 16, {{1, 0}, {3, 0}});
  EXPECT_EQ(per_batch, 16u);
  EXPECT_EQ(pool.slots(), (1u << 20) / (16u * 8192u));
  EXPECT_LE(pool.slots() * per_batch * h.frame_bytes(), pool.memory_limit());
  FrameBatch* b = pool.acquire(std::chrono::milliseconds(0));
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->capacity, 16u);
  EXPECT_EQ(b->results.size(), 2u);
  EXPECT_EQ(b->results[1].scalars.size(), 48u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b->pixels) % 64, 0u);
  pool.release(b);
  EXPECT_TRUE(pool.idle());
}

TEST(BatchPool, ShrinksBatchesToKeepTwoSlots) {
  BatchPool pool(10 * 8192);
  auto h = series_of(64, Dtype::kU16);
  const auto per_batch = pool.configure(h, 64, {});
  EXPECT_GE(pool.slots(), BatchPool::kMinSlots);
  EXPECT_LE(pool.slots() * per_batch * h.frame_bytes(), pool.memory_limit());
}

TEST(BatchPool, RejectsALimitBelowTwoFrames) {
  BatchPool pool(8192);
  auto h = series_of(64, Dtype::kU16);
  EXPECT_THROW(pool.configure(h, 4, {}), ConfigError);
}

TEST(BatchPool, AcquireTimesOutWhenEmpty) {
  BatchPool pool(2 * 8192);
  auto h = series_of(64, Dtype::kU16);
  pool.configure(h, 1, {});
  auto* a = pool.acquire(std::chrono::milliseconds(0));
  auto* b = pool.acquire(std::chrono::milliseconds(0));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(pool.acquire(std::chrono::milliseconds(10)), nullptr);
  pool.release(a);
  EXPECT_EQ(pool.acquire(std::chrono::milliseconds(10)), a);
  pool.release(a);
  pool.release(b);
}
