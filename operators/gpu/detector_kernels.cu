// SPDX-License-Identifier: GPL-3.0-or-later
// Kernels of the per-frame reductions; see detector_kernels.cuh.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "operators/gpu/cuda_try.hpp"
#include "operators/gpu/detector_kernels.cuh"

namespace stemflow::gpu {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFullMask = 0xffffffffu;

struct DevSum {
  unsigned long long lo;
  unsigned long long hi;
  double value;
};
static_assert(sizeof(DevSum) == 24, "DevSum must match gpu::DeviceSum");

using u128 = unsigned __int128;

// ---- warp reductions ---------------------------------------------------------------------------

__device__ __forceinline__ double warp_sum(double v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(kFullMask, v, off);
  return v;
}
__device__ __forceinline__ u128 warp_sum(u128 v) {
  unsigned long long lo = static_cast<unsigned long long>(v);
  unsigned long long hi = static_cast<unsigned long long>(v >> 64);
  for (int off = 16; off > 0; off >>= 1) {
    const unsigned long long olo = __shfl_down_sync(kFullMask, lo, off);
    const unsigned long long ohi = __shfl_down_sync(kFullMask, hi, off);
    const unsigned long long nlo = lo + olo;
    hi = hi + ohi + (nlo < lo ? 1ull : 0ull);
    lo = nlo;
  }
  return (static_cast<u128>(hi) << 64) | lo;
}

// Block sum of one value per thread; the result is valid in thread 0. scratch holds kWarps values.
template <class T>
__device__ T block_sum(T v, T* scratch) {
  v = warp_sum(v);
  const unsigned warp = threadIdx.x / 32;
  __syncthreads();  // scratch may still be read by the previous call
  if ((threadIdx.x & 31u) == 0) scratch[warp] = v;
  __syncthreads();
  T total = 0;
  if (threadIdx.x == 0) {
    for (int w = 0; w < kWarps; ++w) total += scratch[w];
  }
  return total;
}

__device__ __forceinline__ DevSum make_sum(u128 exact, double value) {
  return DevSum{
      static_cast<unsigned long long>(exact), static_cast<unsigned long long>(exact >> 64), value};
}

// ---- NaN/inf flags (mean_pattern.cpp add_frame, bragg_disks_cpu.cpp convert_pixels)
// --------------

__global__ void __launch_bounds__(kThreads) nonfinite_kernel(const float* __restrict__ frames,
                                                             std::size_t pixels,
                                                             std::uint8_t* __restrict__ bad) {
  const float* px = frames + std::size_t(blockIdx.x) * pixels;
  int any = 0;
  for (std::size_t p = threadIdx.x; p < pixels; p += blockDim.x) any |= !isfinite(px[p]);
  any = __syncthreads_or(any);
  if (threadIdx.x == 0) bad[blockIdx.x] = any ? 1 : 0;
}

// ---- detector and CoM sums (virtual_image_cpu.cpp masked_sum, masked_moments)
// --------------------

struct Pass {
  int nd;     // detectors of this pass
  int first;  // index of its first detector
  DeviceMask det[kMasksPerPass];
  int com;  // CoM region of this pass, -1 for none
  DeviceMask region;
};

// One block per frame, one read of each pixel for all the pass's masks. Integer pixels over binary
// masks: exact integer sums (64-bit per thread cannot overflow: <= 2^32 per pixel and far fewer
// than 2^32 pixels per thread; the moments of u32 pixels take 128 bits). Otherwise float64.
template <class P>
__global__ void __launch_bounds__(kThreads) sums_kernel(const P* __restrict__ frames,
                                                        const std::uint32_t* __restrict__ bits,
                                                        std::uint32_t rows,
                                                        std::uint32_t cols,
                                                        Pass pass,
                                                        DevSum* __restrict__ det_out,
                                                        int det_total,
                                                        DevSum* __restrict__ com_out,
                                                        int com_total) {
  constexpr bool kInt = std::is_integral_v<P>;
  using MomentAcc = std::conditional_t<sizeof(P) >= 4, u128, unsigned long long>;
  __shared__ u128 scratch_int[kWarps];
  __shared__ double scratch_dbl[kWarps];
  const std::size_t pixels = std::size_t(rows) * cols;
  const P* px = frames + std::size_t(blockIdx.x) * pixels;

  unsigned long long isum[kMasksPerPass];
  double dsum[kMasksPerPass];
#pragma unroll
  for (int d = 0; d < kMasksPerPass; ++d) {
    isum[d] = 0;
    dsum[d] = 0;
  }
  MomentAcc im0 = 0, im1 = 0, im2 = 0;
  double dm0 = 0, dm1 = 0, dm2 = 0;

  for (std::uint32_t p = threadIdx.x; p < pixels; p += blockDim.x) {
    const P v = px[p];
    const std::uint32_t b = bits[p];
#pragma unroll
    for (int d = 0; d < kMasksPerPass; ++d) {
      if (d < pass.nd) {
        if (pass.det[d].binary) {
          if ((b >> pass.det[d].bit) & 1u) {
            if constexpr (kInt) {
              isum[d] += v;
            } else {
              dsum[d] += double(v);
            }
          }
        } else {
          dsum[d] += double(v) * pass.det[d].d_weights[p];
        }
      }
    }
    if (pass.com >= 0) {
      const std::uint32_t row = p / cols;
      const std::uint32_t col = p - row * cols;
      if (pass.region.binary) {
        if ((b >> pass.region.bit) & 1u) {
          if constexpr (kInt) {
            im0 += MomentAcc(v);
            im1 += MomentAcc(v) * row;
            im2 += MomentAcc(v) * col;
          } else {
            const double dv = double(v);
            dm0 += dv;
            dm1 += dv * double(row);
            dm2 += dv * double(col);
          }
        }
      } else {
        const double dv = double(v) * pass.region.d_weights[p];
        dm0 += dv;
        dm1 += dv * double(row);
        dm2 += dv * double(col);
      }
    }
  }

  const std::size_t f = blockIdx.x;
#pragma unroll
  for (int d = 0; d < kMasksPerPass; ++d) {
    if (d < pass.nd) {  // uniform over the block
      const u128 e = block_sum<u128>(u128(isum[d]), scratch_int);
      const double s = block_sum<double>(dsum[d], scratch_dbl);
      if (threadIdx.x == 0) det_out[f * det_total + pass.first + d] = make_sum(e, s);
    }
  }
  if (pass.com >= 0) {
    const u128 e0 = block_sum<u128>(u128(im0), scratch_int);
    const u128 e1 = block_sum<u128>(u128(im1), scratch_int);
    const u128 e2 = block_sum<u128>(u128(im2), scratch_int);
    const double s0 = block_sum<double>(dm0, scratch_dbl);
    const double s1 = block_sum<double>(dm1, scratch_dbl);
    const double s2 = block_sum<double>(dm2, scratch_dbl);
    if (threadIdx.x == 0) {
      DevSum* o = com_out + (f * com_total + pass.com) * 3;
      o[0] = make_sum(e0, s0);
      o[1] = make_sum(e1, s1);
      o[2] = make_sum(e2, s2);
    }
  }
}

// ---- mean / max patterns (mean_pattern.cpp, max_pattern.cpp)
// --------------------------------------

// One thread per pixel walks the batch's frames (coalesced across threads); frames flagged NaN/inf
// are left out, as the CPU operators leave them out.
template <class P>
__global__ void pattern_kernel(const P* __restrict__ frames,
                               const std::uint8_t* __restrict__ bad,
                               std::size_t pixels,
                               std::uint32_t count,
                               double* __restrict__ sum,
                               double* __restrict__ max) {
  const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
  for (std::size_t p = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; p < pixels;
       p += stride) {
    double s = 0;
    double m = -INFINITY;
    for (std::uint32_t f = 0; f < count; ++f) {
      if (bad[f]) continue;
      const double v = double(frames[std::size_t(f) * pixels + p]);
      s += v;
      m = v > m ? v : m;
    }
    if (sum != nullptr) sum[p] += s;
    if (max != nullptr) max[p] = m > max[p] ? m : max[p];
  }
}

template <class P>
cudaError_t run_typed(const FramePassParams& p,
                      const FramePassBuffers& b,
                      std::uint32_t count,
                      cudaStream_t stream) {
  const P* frames = static_cast<const P*>(b.d_frames);
  const std::size_t pixels = std::size_t(p.rows) * p.cols;
  if constexpr (std::is_same_v<P, float>) {
    nonfinite_kernel<<<count, kThreads, 0, stream>>>(frames, pixels, b.d_bad);
  } else {
    STEMFLOW_CUDA_TRY(cudaMemsetAsync(b.d_bad, 0, count, stream));
  }
  STEMFLOW_CUDA_TRY(cudaGetLastError());

  const int passes_det = (p.detectors + kMasksPerPass - 1) / kMasksPerPass;
  const int passes = passes_det > p.com ? passes_det : p.com;
  for (int q = 0; q < passes; ++q) {
    Pass pass{};
    pass.first = q * kMasksPerPass;
    pass.nd = p.detectors - pass.first;
    if (pass.nd < 0) pass.nd = 0;
    if (pass.nd > kMasksPerPass) pass.nd = kMasksPerPass;
    for (int d = 0; d < pass.nd; ++d) pass.det[d] = p.detector[pass.first + d];
    pass.com = q < p.com ? q : -1;
    if (pass.com >= 0) pass.region = p.com_region[q];
    sums_kernel<P><<<count, kThreads, 0, stream>>>(frames,
                                                   p.d_bits,
                                                   p.rows,
                                                   p.cols,
                                                   pass,
                                                   static_cast<DevSum*>(b.d_detector_sums),
                                                   p.detectors,
                                                   static_cast<DevSum*>(b.d_com_sums),
                                                   p.com);
    STEMFLOW_CUDA_TRY(cudaGetLastError());
  }

  if (p.d_mean_sum != nullptr || p.d_max != nullptr) {
    const unsigned grid = unsigned((pixels + kThreads - 1) / kThreads);
    pattern_kernel<P>
        <<<grid, kThreads, 0, stream>>>(frames, b.d_bad, pixels, count, p.d_mean_sum, p.d_max);
    STEMFLOW_CUDA_TRY(cudaGetLastError());
  }
  return cudaSuccess;
}

}  // namespace

cudaError_t launch_frame_pass(const FramePassParams& p,
                              const FramePassBuffers& b,
                              std::uint32_t count,
                              cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  switch (p.pixels) {
    case PixelType::kU8:
      return run_typed<std::uint8_t>(p, b, count, stream);
    case PixelType::kU16:
      return run_typed<std::uint16_t>(p, b, count, stream);
    case PixelType::kU32:
      return run_typed<std::uint32_t>(p, b, count, stream);
    case PixelType::kF32:
      return run_typed<float>(p, b, count, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace stemflow::gpu
