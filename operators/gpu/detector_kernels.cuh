// SPDX-License-Identifier: GPL-3.0-or-later
// The per-frame reductions of a batch on the GPU, in one launcher: the NaN/inf flag of each f32
// frame, every virtual detector and every centre-of-mass region (one read of the frame serves up to
// kMasksPerPass detectors and one CoM region), and the mean / max pattern accumulation. CPU
// references: operators/virtual_image/virtual_image_cpu.cpp (masked_sum, masked_moments),
// operators/mean_pattern, operators/max_pattern.
//
// Integer pixels summed over binary masks are accumulated in integers (64-bit per thread, 128-bit
// across the block), so the sums are exact and equal the CPU's bit for bit; float pixels and
// weighted masks are summed in float64 (equal up to summation order).
//
// Host code includes this header; it holds no device code. detector_kernels.cu has the kernels.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "operators/gpu/pixel_type.hpp"

namespace stemflow::gpu {

//! Masks one pass handles (register accumulators per thread).
constexpr int kMasksPerPass = 8;
//! Masks in all (bits of the packed binary mask word).
constexpr int kMaxMasks = 32;

//! One mask as the kernels see it: a bit of the packed binary word, or dense float64 weights.
struct DeviceMask {
  bool binary = true;
  int bit = 0;                        // binary: bit of d_bits
  const double* d_weights = nullptr;  // weighted: rows x cols
};

struct FramePassParams {
  std::uint32_t rows = 0;
  std::uint32_t cols = 0;
  PixelType pixels = PixelType::kU16;
  const std::uint32_t* d_bits = nullptr;  // per pixel: bit m = inside binary mask m
  int detectors = 0;                      // virtual detectors (results: DeviceSum per frame each)
  DeviceMask detector[kMaxMasks];
  int com = 0;  // CoM regions (results: 3 DeviceSums per frame each)
  DeviceMask com_region[kMaxMasks];
  double* d_mean_sum = nullptr;  // rows x cols per-pixel sum (null: no mean pattern)
  double* d_max = nullptr;       // rows x cols per-pixel max (null: no max pattern)
};

struct FramePassBuffers {
  const void* d_frames = nullptr;   // count x rows x cols pixels
  std::uint8_t* d_bad = nullptr;    // per frame, written here: 1 = NaN/inf pixels (f32 only)
  void* d_detector_sums = nullptr;  // count x detectors DeviceSum {u64 lo, u64 hi, double}
  void* d_com_sums = nullptr;       // count x com x 3 DeviceSum (sum, sum qx, sum qy)
};

//! Runs the frame flags, the detector and CoM sums and the pattern accumulation for frames
//! [0, count). The pattern accumulators belong to the stream slot (no other stream touches them).
cudaError_t launch_frame_pass(const FramePassParams& p,
                              const FramePassBuffers& b,
                              std::uint32_t count,
                              cudaStream_t stream);

}  // namespace stemflow::gpu
