// SPDX-License-Identifier: GPL-3.0-or-later
// Bragg disk detection on the GPU for a whole batch, following the CPU reference
// (operators/bragg_disks/bragg_disks_cpu.cpp, py4DSTEM 0.14.18's CPU semantics, docs/py4dstem.md
// §1.3):
//   pixels -> float32 -> batched R2C -> x conj(FFT(template)) [|m|^p e^{i arg m}] (one fused
//   kernel)
//   -> batched C2R -> clip at 0 + separable Gaussian (scipy 'reflect', truncate 4; one tiled
//   kernel)
//   -> local maxima (mixed >= / > test) and the edge band, with the absolute threshold, appended as
//      packed (intensity, row, col) keys -> per-frame segmented sort (descending: intensity, then
//      row, then column, numpy's tie order) -> relative threshold, spacing walk, max_num_peaks and
//      poly (one warp per frame) -> multicorr (one block per peak, DFT patch in float64) and
//      re-sort.
// Peaks land compacted per frame (the first count records of each frame's max_num_peaks slots) in
// the result block the caller copies back once per batch. Nothing syncs the host.
//
// Host code includes this header; it holds no device code. bragg_disks_kernels.cu has the kernels.
#pragma once

#include <cuda_runtime.h>
#include <cufft.h>

#include <cstddef>
#include <cstdint>

#include "operators/gpu/pixel_type.hpp"

namespace stemflow::gpu {

//! Largest Gaussian radius of the fused smoothing kernel (gpu_plan.hpp: kMaxGaussRadius).
constexpr int kBraggMaxGaussRadius = 24;

//! Everything the kernels need to know about one Bragg operator; fixed at start.
struct BraggKernelParams {
  std::uint32_t rows = 0;      // N (qx)
  std::uint32_t cols = 0;      // M (qy)
  std::uint32_t half = 0;      // M / 2 + 1: columns of the half spectrum
  std::uint32_t capacity = 0;  // frames the buffers and FFT plans hold
  PixelType pixels = PixelType::kU16;

  // hybrid correlation: linear (corr_power 1) multiplies by the template spectrum, which then
  // carries numpy's 1/(N M); otherwise m (|m|^2)^corr_exp / (N M), phase_only for corr_power 0.
  bool linear = true;
  bool phase_only = false;
  float corr_exp = 0;
  float inv_n = 0;
  float at_zero = 0;  // 0^p / (N M): numpy's value where |m| = 0

  // Gaussian on the clipped correlation; radius 0 = off (weights[0] = 1 then).
  int gauss_radius = 0;
  float gauss_weights[kBraggMaxGaussRadius + 1] = {};

  // maxima and filters (filter_2D_maxima, in the CPU's order)
  int edge = 1;             // max(edge_boundary, 1)
  double min_absolute = 0;  // 0 = off
  double min_relative = 0;  // 0 = off
  int relative_to_peak = 0;
  double spacing2 = 0;  // min_peak_spacing^2 (strict <)
  bool spacing = false;
  int max_peaks = 1;
  int subpixel = 0;                 // 0 pixel, 1 poly, 2 multicorr
  std::uint32_t cand_capacity = 1;  // candidate keys per frame (gpu_plan.hpp: max_candidates)

  // multicorr (gpu_plan.hpp: MulticorrGeometry)
  int us = 16;
  int mc_n = 24;
  int mc_g = 12;
  long long lx = 0;
  long long ly = 0;
  bool nyq_row = false;
  bool nyq_col = false;
  std::size_t mc_smem = 0;
};

//! The device buffers of one Bragg operator in one stream slot (sized once, at start).
struct BraggKernelBuffers {
  const void* d_frames = nullptr;       // count x rows x cols pixels
  const std::uint8_t* d_bad = nullptr;  // per frame: 1 = NaN/inf pixels (no peaks)
  const float2* d_template = nullptr;   // rows x half: conj(FFT(template)) (x 1/(N M) if linear)
  float* d_real = nullptr;              // capacity x rows x cols: R2C input, then C2R output
  float2* d_spec = nullptr;             // capacity x rows x half
  float2* d_keep = nullptr;             // multicorr only: the hybrid spectrum (C2R destroys d_spec)
  float* d_smooth = nullptr;            // capacity x rows x cols: the smoothed correlation
  unsigned long long* d_keys = nullptr;         // capacity x cand_capacity
  unsigned long long* d_keys_sorted = nullptr;  // capacity x cand_capacity
  std::uint32_t* d_cand_count = nullptr;        // capacity
  long long* d_seg_begin = nullptr;             // capacity
  long long* d_seg_end = nullptr;               // capacity
  void* d_sort_temp = nullptr;
  std::size_t sort_temp_bytes = 0;
  std::uint32_t* d_peak_count = nullptr;  // capacity (in the result block)
  void* d_peaks = nullptr;           // capacity x max_peaks records {qx, qy, intensity} (doubles)
  const double2* d_twx = nullptr;    // multicorr: exp(2 pi i t / lx), t in [0, lx)
  const double2* d_twy = nullptr;    // multicorr: exp(2 pi i t / ly), t in [0, ly)
  const double2* d_omega = nullptr;  // multicorr: exp(2 pi i f_v l / ly), half x mc_n
  cufftHandle r2c = 0;               // batched capacity x (rows x cols) R2C
  cufftHandle c2r = 0;               // its inverse
};

//! Optional events recorded on the stream after the FFT stage (convert, R2C, multiply, C2R) and
//! after the peak stage (smoothing to the final peak lists), for the benchmark's stage shares.
struct BraggStageEvents {
  cudaEvent_t after_fft = nullptr;
  cudaEvent_t after_peaks = nullptr;
};

//! Two-phase temporary storage of the per-frame candidate sort: bytes for capacity frames of
//! cand_capacity keys each.
cudaError_t bragg_sort_temp_bytes(std::uint32_t capacity,
                                  std::uint32_t cand_capacity,
                                  std::size_t& bytes);

//! Once per process and device, before the first launch: lets the multicorr kernel use mc_smem
//! bytes of shared memory per block (above the default 48 KiB).
cudaError_t bragg_prepare_device(const BraggKernelParams& p);

//! conj(FFT2(kernel)) * scale as float32 into d_template (rows x (cols/2+1)), computed in float64
//! with cuFFT (as py4DSTEM and the CPU path compute it). h_kernel = nullptr gives a delta template
//! (spectrum 1). Start-up only: allocates and synchronises the stream.
cudaError_t build_template_spectrum(const double* h_kernel,
                                    std::uint32_t rows,
                                    std::uint32_t cols,
                                    double scale,
                                    float2* d_template,
                                    cudaStream_t stream);

//! Detects the disks of frames [0, count) of the batch (count <= capacity). The FFTs run over the
//! whole capacity (the plans are sized once); frames beyond count are ignored.
cudaError_t launch_bragg_disks(const BraggKernelParams& p,
                               const BraggKernelBuffers& b,
                               std::uint32_t count,
                               const BraggStageEvents* events,
                               cudaStream_t stream);

}  // namespace stemflow::gpu
