// SPDX-License-Identifier: GPL-3.0-or-later
// Spec: the pool is the memory bound; slots are carved per series and never exceed memory_limit.
#include <gtest/gtest.h>

#include "pipeline/core/batch_pool.hpp"
#include "pipeline/core/expected.hpp"

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

TEST(BatchPool, AdmitsOnlySeriesThatFitItsMemory) {
  BatchPool pool(1 << 20);
  pool.set_results_budget(1 << 20, 16);  // 1 MiB of results at 16 bytes a position: 65536 positions
  auto h = series_of(64, Dtype::kU16);
  EXPECT_TRUE(pool.admit(h));
  h.scan_rows = h.scan_cols = 256;  // exactly 65536 positions
  EXPECT_TRUE(pool.admit(h));
  h.scan_cols = 257;
  auto refused = pool.admit(h);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "series_rejected");
  EXPECT_NE(refused.error().message.find("pipeline.results_limit"), std::string::npos);
  // Products that overflow 64 bits are still refused, not wrapped around into small ones.
  h.scan_rows = h.scan_cols = 0xFFFFFFFFu;
  EXPECT_FALSE(pool.admit(h));
  h = series_of(1u << 20, Dtype::kU32);  // 4 TiB frames
  refused = pool.admit(h);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("pipeline.memory_limit"), std::string::npos);
  h = series_of(512, Dtype::kU16);  // 512 KiB frames: exactly two fit
  EXPECT_TRUE(pool.admit(h));
  h = series_of(513, Dtype::kU16);
  EXPECT_FALSE(pool.admit(h));
  h = series_of(0, Dtype::kU16);
  EXPECT_FALSE(pool.admit(h));
}
