// SPDX-License-Identifier: GPL-3.0-or-later
// The GPU path's host-side bookkeeping, tested without a GPU (these run in CI): which Bragg
// configurations the GPU takes, the candidate bound the device buffers rely on, the result block
// layout, mask packing, the unpacking of results into OperatorResults (as the CPU operators write
// them), the exact 128-bit sums, and the slot ring that bounds batches in flight.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "operators/gpu/gpu_plan.hpp"
#include "operators/gpu/multicorr_shape.hpp"

using namespace stemflow;
using namespace stemflow::gpu;

namespace {

ops::BraggDisksParams gpu_ok_params() {
  ops::BraggDisksParams p;
  p.subpixel = ops::Subpixel::kPoly;
  return p;
}

}  // namespace

// Spec: the GPU runs the float32 configurations py4DSTEM's CPU semantics need, and says why not
// otherwise.
TEST(GpuPlan, BraggSupportDecisions) {
  auto p = gpu_ok_params();
  EXPECT_FALSE(bragg_unsupported_reason(p, true, 256, 256).has_value());
  p.subpixel = ops::Subpixel::kMulticorr;
  EXPECT_FALSE(bragg_unsupported_reason(p, true, 256, 256).has_value());
  EXPECT_FALSE(bragg_unsupported_reason(p, true, 512, 512).has_value());

  auto f64 = gpu_ok_params();
  f64.precision = ops::Precision::kF64;
  EXPECT_TRUE(bragg_unsupported_reason(f64, true, 128, 128).has_value());

  auto nt = gpu_ok_params();
  EXPECT_TRUE(bragg_unsupported_reason(nt, false, 128, 128).has_value());  // py4DSTEM's bug mode
  nt.no_template_applies_ifft = false;
  EXPECT_FALSE(bragg_unsupported_reason(nt, false, 128, 128).has_value());  // delta template

  auto dp = gpu_ok_params();
  dp.sigma_dp = 1;
  EXPECT_TRUE(bragg_unsupported_reason(dp, true, 128, 128).has_value());

  auto wide = gpu_ok_params();
  wide.sigma = 6.1;  // radius int(4 * 6.1 + 0.5) = 24: the largest the tiled kernel takes
  EXPECT_FALSE(bragg_unsupported_reason(wide, true, 128, 128).has_value());
  wide.sigma = 6.2;  // radius 25
  EXPECT_TRUE(bragg_unsupported_reason(wide, true, 128, 128).has_value());

  auto many = gpu_ok_params();
  many.max_num_peaks = kMaxGpuPeaks + 1;
  EXPECT_TRUE(bragg_unsupported_reason(many, true, 128, 128).has_value());

  auto big_us = gpu_ok_params();
  big_us.subpixel = ops::Subpixel::kMulticorr;
  big_us.upsample_factor = 1024;
  EXPECT_TRUE(bragg_unsupported_reason(big_us, true, 256, 256).has_value());

  EXPECT_TRUE(bragg_unsupported_reason(gpu_ok_params(), true, 2, 128).has_value());
  EXPECT_TRUE(bragg_unsupported_reason(gpu_ok_params(), true, 70000, 128).has_value());
}

// Spec: multicorr's patch geometry equals py4DSTEM's (n = ceil(1.5 us), globalShift = fix(n / 2))
// and fits Hopper's shared memory at the usual sizes.
TEST(GpuPlan, MulticorrGeometry) {
  const auto g = multicorr_geometry(256, 256, 16);
  EXPECT_EQ(g.n, 24);
  EXPECT_EQ(g.g, 12);
  EXPECT_EQ(g.lx, 256 * 16);
  EXPECT_EQ(g.ncols, 129u);
  EXPECT_TRUE(g.nyq_row && g.nyq_col);
  EXPECT_LE(g.smem_bytes, kHopperSharedMemoryOptin);
  const auto odd = multicorr_geometry(127, 129, 3);
  EXPECT_EQ(odd.n, 5);  // ceil(4.5)
  EXPECT_EQ(odd.g, 2);  // fix(5 / 2)
  EXPECT_FALSE(odd.nyq_row || odd.nyq_col);
  EXPECT_EQ(multicorr_padded_rows(5), 8);
  EXPECT_LE(multicorr_geometry(1024, 1024, 16).smem_bytes, kHopperSharedMemoryOptin);
}

// py4DSTEM's mixed >= / > test, as the CPU reference applies it (bragg_disks_cpu.cpp maxima_row).
static bool is_max(const std::vector<float>& a, int cols, int i, int j) {
  const auto at = [&](int r, int c) { return a[std::size_t(r) * cols + c]; };
  const float v = at(i, j);
  return v >= at(i + 1, j) && v > at(i - 1, j) && v >= at(i, j + 1) && v > at(i, j - 1) &&
         v >= at(i + 1, j + 1) && v > at(i + 1, j - 1) && v >= at(i - 1, j + 1) &&
         v > at(i - 1, j - 1);
}

// Edge case: the candidate buffers are sized by the 8-isolation bound; no field, however flat or
// tied, may produce more maxima than that (an overflow would silently lose peaks on the device).
TEST(GpuPlan, CandidateBoundHoldsForTiesAndPlateaus) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 60; ++trial) {
    const int rows = 5 + trial % 11, cols = 5 + (trial * 7) % 13;
    const int eb = 1 + trial % 2;
    std::vector<float> a(std::size_t(rows) * cols);
    std::uniform_int_distribution<int> levels(0, trial % 3 == 0 ? 1 : 3);  // heavy ties
    for (auto& v : a) v = float(levels(rng));
    std::uint32_t n = 0;
    for (int i = eb; i < rows - eb; ++i)
      for (int j = eb; j < cols - eb; ++j) n += is_max(a, cols, i, j);
    EXPECT_LE(n, max_candidates(rows, cols, eb)) << rows << "x" << cols << " eb " << eb;
  }
  // A checkerboard reaches the bound.
  const int rows = 11, cols = 9;
  std::vector<float> a(std::size_t(rows) * cols, 0.f);
  for (int i = 1; i < rows - 1; i += 2)
    for (int j = 1; j < cols - 1; j += 2) a[std::size_t(i) * cols + j] = 1.f;
  std::uint32_t n = 0;
  for (int i = 1; i < rows - 1; ++i)
    for (int j = 1; j < cols - 1; ++j) n += is_max(a, cols, i, j);
  EXPECT_EQ(n, max_candidates(rows, cols, 1));
  EXPECT_EQ(max_candidates(4, 4, 5), 1u);  // empty interior: still one slot
}

// Spec: the result block is laid out once; every array is aligned and disjoint.
TEST(GpuPlan, ResultLayoutIsAlignedAndDisjoint) {
  const std::vector<std::uint32_t> peaks = {70, 5};
  const auto l = make_result_layout(100, peaks, 3, 2);
  struct Range {
    std::size_t a, b;
  };
  std::vector<Range> r = {{l.bad_offset, l.bad_offset + 100}};
  for (const auto& b : l.bragg) {
    r.push_back({b.counts_offset, b.counts_offset + 400});
    r.push_back({b.peaks_offset, b.peaks_offset + 100 * b.max_peaks * sizeof(Peak)});
  }
  r.push_back({l.detectors_offset, l.detectors_offset + 100 * 3 * sizeof(DeviceSum)});
  r.push_back({l.com_offset, l.com_offset + 100 * 2 * 3 * sizeof(DeviceSum)});
  for (std::size_t i = 0; i < r.size(); ++i) {
    EXPECT_EQ(r[i].a % 256, 0u);
    EXPECT_LE(r[i].b, l.bytes);
    for (std::size_t j = i + 1; j < r.size(); ++j)
      EXPECT_TRUE(r[i].b <= r[j].a || r[j].b <= r[i].a);
  }
  EXPECT_GT(make_result_layout(1, {}, 0, 0).bytes, 0u);
}

// Spec: binary masks become bits of one word per pixel; weighted masks keep their weights.
TEST(GpuPlan, PackMasks) {
  std::vector<DetectorSpec> m(3);
  m[0] = {true, {1, 0, 1, 0}};
  m[1] = {false, {0.5, 0, 0, 2}};
  m[2] = {true, {0, 1, 1, 0}};
  const auto p = pack_masks(m, 4);
  EXPECT_EQ(p.bits, (std::vector<std::uint32_t>{0b001, 0b100, 0b101, 0b000}));
  EXPECT_EQ(p.binary, (std::vector<bool>{true, false, true}));
  EXPECT_TRUE(p.dense[0].empty());
  EXPECT_EQ(p.dense[1], (std::vector<double>{0.5, 0, 0, 2}));
  std::vector<DetectorSpec> wrong = {{true, {1, 0}}};
  EXPECT_THROW(pack_masks(wrong, 4), std::invalid_argument);
  EXPECT_THROW(pack_masks(std::vector<DetectorSpec>(33, {true, {1}}), 1), std::invalid_argument);
}

// Spec: 128-bit sums convert to double exactly as static_cast<double>(unsigned __int128) does.
TEST(GpuPlan, ExactSumsRoundLikeTheCpu) {
  const unsigned __int128 v = (static_cast<unsigned __int128>(3) << 64) | 0x8000000000000001ull;
  DeviceSum s{static_cast<std::uint64_t>(v), static_cast<std::uint64_t>(v >> 64), 0};
  EXPECT_EQ(exact_to_double(s), static_cast<double>(v));
  DeviceSum small{12345, 0, 0};
  EXPECT_EQ(exact_to_double(small), 12345.0);
}

namespace {

OperatorResults make_results(std::uint32_t scalars, std::uint32_t max_peaks, std::uint32_t cap) {
  OperatorResults r;
  r.scalars_per_frame = scalars;
  r.max_peaks = max_peaks;
  r.resize(cap);
  return r;
}

}  // namespace

// Spec: unpacking writes exactly what the CPU operators write: peak lists and counts (failed
// frames: no peaks, count NaN), virtual image sums (exact for integer pixels over binary masks),
// CoM qx / qy / intensity (NaN where the sum is 0), and the failed flags of the pattern operators.
TEST(GpuPlan, UnpackWritesWhatTheCpuOperatorsWrite) {
  const std::uint32_t cap = 4, count = 3;
  const std::vector<std::uint32_t> mp = {2};
  const auto l = make_result_layout(cap, mp, 2, 1);
  std::vector<std::byte> block(l.bytes);
  auto* bad = reinterpret_cast<std::uint8_t*>(block.data() + l.bad_offset);
  bad[1] = 1;
  auto* counts = reinterpret_cast<std::uint32_t*>(block.data() + l.bragg[0].counts_offset);
  auto* peaks = reinterpret_cast<Peak*>(block.data() + l.bragg[0].peaks_offset);
  counts[0] = 2;
  peaks[0] = {10.5, 20.25, 3.0};
  peaks[1] = {30.0, 40.0, 2.0};
  counts[2] = 0;
  auto* det = reinterpret_cast<DeviceSum*>(block.data() + l.detectors_offset);
  const unsigned __int128 big = (static_cast<unsigned __int128>(1) << 70) + 3;
  det[0 * 2 + 0] = {static_cast<std::uint64_t>(big), static_cast<std::uint64_t>(big >> 64), 0.0};
  det[0 * 2 + 1] = {0, 0, 2.5};  // weighted: the double sum
  det[2 * 2 + 0] = {7, 0, 0.0};
  auto* com = reinterpret_cast<DeviceSum*>(block.data() + l.com_offset);
  com[0] = {10, 0, 0};
  com[1] = {25, 0, 0};
  com[2] = {40, 0, 0};
  com[2 * 3 + 0] = {0, 0, 0};  // frame 2: empty region

  auto bragg = make_results(1, 2, cap);
  auto vi0 = make_results(1, 0, cap), vi1 = make_results(1, 0, cap);
  auto cm = make_results(3, 0, cap);
  auto mean = make_results(0, 0, cap);
  UnpackTargets t;
  t.bragg = {&bragg};
  t.detectors = {&vi0, &vi1};
  t.com = {&cm};
  t.patterns = {&mean};
  const std::vector<std::uint8_t> det_binary = {1, 0}, com_binary = {1};
  const auto c = unpack_results(block.data(), l, count, true, det_binary, com_binary, t);

  EXPECT_EQ(c.bragg_failed, 1u);
  EXPECT_EQ(c.pattern_frames, 2u);
  EXPECT_EQ(bragg.peak_counts[0], 2u);
  EXPECT_EQ(std::as_const(bragg).frame_peaks(0)[0].qy, 20.25);
  EXPECT_EQ(bragg.frame_scalars(0)[0], 2.0);
  EXPECT_EQ(bragg.failed[1], 1);
  EXPECT_EQ(bragg.peak_counts[1], 0u);
  EXPECT_TRUE(std::isnan(bragg.frame_scalars(1)[0]));
  EXPECT_EQ(bragg.peak_counts[2], 0u);
  EXPECT_EQ(bragg.failed[2], 0);

  EXPECT_EQ(vi0.frame_scalars(0)[0], static_cast<double>(big));
  EXPECT_EQ(vi0.frame_scalars(2)[0], 7.0);
  EXPECT_EQ(vi1.frame_scalars(0)[0], 2.5);

  EXPECT_EQ(cm.frame_scalars(0)[0], 2.5);
  EXPECT_EQ(cm.frame_scalars(0)[1], 4.0);
  EXPECT_EQ(cm.frame_scalars(0)[2], 10.0);
  EXPECT_TRUE(std::isnan(cm.frame_scalars(2)[0]));
  EXPECT_EQ(cm.failed[2], 0);

  EXPECT_EQ(mean.failed[0], 0);
  EXPECT_EQ(mean.failed[1], 1);

  // f32 pixels: the double sums, never the integer ones.
  det[0] = {5, 0, 1.25};
  unpack_results(block.data(), l, count, false, det_binary, com_binary, t);
  EXPECT_EQ(vi0.frame_scalars(0)[0], 1.25);
  // A NaN sum marks the virtual image frame failed.
  det[0] = {0, 0, std::numeric_limits<double>::quiet_NaN()};
  unpack_results(block.data(), l, count, false, det_binary, com_binary, t);
  EXPECT_EQ(vi0.failed[0], 1);
}

// Spec: the ring hands out each slot once until released, blocks when all are taken, and cycles
// through all slots in a steady stream.
TEST(GpuPlan, SlotRingBoundsBatchesInFlight) {
  SlotRing ring(3);
  std::set<std::size_t> got = {ring.acquire(), ring.acquire(), ring.acquire()};
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(ring.free_count(), 0u);
  std::atomic<bool> acquired{false};
  std::thread t([&] {
    const auto s = ring.acquire();
    acquired = true;
    ring.release(s);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(acquired.load());
  ring.release(1);
  t.join();
  EXPECT_TRUE(acquired.load());
  ring.release(0);
  ring.release(2);
  EXPECT_EQ(ring.free_count(), 3u);
  EXPECT_THROW(ring.release(0), std::logic_error);

  // Round robin: a steady acquire/release stream visits every slot.
  std::set<std::size_t> seen;
  for (int i = 0; i < 6; ++i) {
    const auto s = ring.acquire();
    seen.insert(s);
    ring.release(s);
  }
  EXPECT_EQ(seen.size(), 3u);

  // Many threads: never more than 3 at once.
  std::atomic<int> inside{0}, worst{0};
  std::vector<std::thread> pool;
  for (int k = 0; k < 8; ++k) {
    pool.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        const auto s = ring.acquire();
        const int now = ++inside;
        int w = worst.load();
        while (now > w && !worst.compare_exchange_weak(w, now)) {
        }
        --inside;
        ring.release(s);
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_LE(worst.load(), 3);
  EXPECT_EQ(ring.free_count(), 3u);
}

TEST(GpuPlan, PixelTypeMirrorsDtype) {
  EXPECT_EQ(pixel_type(Dtype::kU8), PixelType::kU8);
  EXPECT_EQ(pixel_type(Dtype::kU16), PixelType::kU16);
  EXPECT_EQ(pixel_type(Dtype::kU32), PixelType::kU32);
  EXPECT_EQ(pixel_type(Dtype::kF32), PixelType::kF32);
}
