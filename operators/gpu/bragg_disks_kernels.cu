// SPDX-License-Identifier: GPL-3.0-or-later
// Kernels of the GPU Bragg disk detector; see bragg_disks_kernels.cuh for the pipeline. Each kernel
// names the CPU function of operators/bragg_disks/ it reproduces.
#include <cmath>
#include <cstdint>
#include <cub/device/device_segmented_sort.cuh>

#include "operators/gpu/bragg_disks_kernels.cuh"
#include "operators/gpu/cuda_try.hpp"
#include "operators/gpu/multicorr_shape.hpp"

namespace stemflow::gpu {
namespace {

constexpr int kThreads = 256;
constexpr unsigned kFullMask = 0xffffffffu;

//! One output peak, laid out as stemflow::Peak (qx = row, qy = column, intensity).
struct DevPeak {
  double x;
  double y;
  double intensity;
};
static_assert(sizeof(DevPeak) == 24, "DevPeak must match stemflow::Peak");

unsigned grid_for(std::size_t n, unsigned threads, unsigned cap = 1u << 20) {
  const std::size_t g = (n + threads - 1) / threads;
  return static_cast<unsigned>(g < 1 ? 1 : (g > cap ? cap : g));
}

// ---- 1. pixels to float32 (bragg_disks_cpu.cpp: convert_pixels) ---------------------------------

template <class P>
struct alignas(4 * sizeof(P)) Quad {
  P v[4];
};

template <class P>
__global__ void convert_kernel(const P* __restrict__ in, float* __restrict__ out, std::size_t n) {
  const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
  const std::size_t first = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  // Four pixels per step when the count allows (the buffers come from cudaMalloc: aligned).
  if (n % 4 == 0) {
    const auto* in4 = reinterpret_cast<const Quad<P>*>(in);
    auto* out4 = reinterpret_cast<float4*>(out);
    for (std::size_t i = first; i < n / 4; i += stride) {
      const Quad<P> q = in4[i];
      out4[i] = make_float4(static_cast<float>(q.v[0]),
                            static_cast<float>(q.v[1]),
                            static_cast<float>(q.v[2]),
                            static_cast<float>(q.v[3]));
    }
    return;
  }
  for (std::size_t i = first; i < n; i += stride) out[i] = static_cast<float>(in[i]);
}

template <class P>
cudaError_t convert(const void* in, float* out, std::size_t n, cudaStream_t s) {
  const std::size_t work = n % 4 == 0 ? n / 4 : n;
  convert_kernel<P>
      <<<grid_for(work, kThreads, 1u << 16), kThreads, 0, s>>>(static_cast<const P*>(in), out, n);
  return cudaGetLastError();
}

// ---- 2. the hybrid correlation, fused (bragg_disks_cpu.cpp: multiply_spectrum, power_spectrum)
// ----

struct HybridArgs {
  bool linear;
  bool phase_only;
  float corr_exp;
  float inv_n;
  float at_zero;
};

// spec[f][i] *= tmpl[i]; then, unless linear, m |m|^(p-1) / (N M) (numpy's |m|^p exp(i angle m)),
// written back for the C2R and, for multicorr, kept (C2R overwrites its input).
__global__ void correlate_kernel(float2* __restrict__ spec,
                                 float2* __restrict__ keep,
                                 const float2* __restrict__ tmpl,
                                 std::uint32_t per_frame,
                                 HybridArgs h) {
  const std::uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= per_frame) return;
  const std::size_t k = std::size_t(blockIdx.y) * per_frame + i;
  const float2 s = spec[k];
  const float2 t = tmpl[i];
  float re = s.x * t.x - s.y * t.y;
  float im = s.x * t.y + s.y * t.x;
  if (!h.linear) {
    const float m2 = re * re + im * im;
    float f;
    if (h.phase_only) {
      f = m2 > 0.f ? h.inv_n / sqrtf(m2) : 0.f;
    } else {
      f = m2 > 0.f ? powf(m2, h.corr_exp) * h.inv_n : 0.f;
    }
    re = m2 > 0.f ? re * f : h.at_zero;
    im = im * f;
  }
  spec[k] = make_float2(re, im);
  if (keep != nullptr) keep[k] = make_float2(re, im);
}

// ---- 3. clip + Gaussian (bragg_disks_cpu.cpp: clip_negative, gauss_rows, gauss_cols)
// ---------------

constexpr int kTileX = 32;
constexpr int kTileY = 32;

struct GaussArgs {
  int r;
  float w[kBraggMaxGaussRadius + 1];
};

// scipy 'reflect' (half-sample symmetric): ... c b a | a b c ... (numpy_compat.hpp: reflect_index).
__device__ __forceinline__ int reflect_index(int i, int n) {
  if (i >= 0 && i < n) return i;
  const int p = 2 * n;
  i %= p;
  if (i < 0) i += p;
  return i < n ? i : p - 1 - i;
}

// One 32 x 32 output tile of one frame: the clipped input with an r-pixel reflected halo is staged
// in shared memory, the axis-0 pass (scipy's first) writes the tile's rows over the halo width, the
// axis-1 pass writes the output. Each tap sum follows scipy's order: centre * w0 + sum over
// t = r..1 of (left + right) * w_t.
__global__ void __launch_bounds__(kThreads) gauss_kernel(const float* __restrict__ cc,
                                                         float* __restrict__ out,
                                                         int rows,
                                                         int cols,
                                                         int tiles_x,
                                                         GaussArgs g) {
  extern __shared__ float smem[];
  const int r = g.r;
  const int width = kTileX + 2 * r;
  const int height = kTileY + 2 * r;
  float* in = smem;                    // height x width
  float* mid = smem + height * width;  // kTileY x width
  const int tile = blockIdx.x;
  const int ty0 = (tile / tiles_x) * kTileY;
  const int tx0 = (tile % tiles_x) * kTileX;
  const std::size_t frame_px = std::size_t(rows) * cols;
  const float* src = cc + blockIdx.y * frame_px;
  for (int k = threadIdx.x; k < height * width; k += blockDim.x) {
    const int ly = k / width;
    const int lx = k - ly * width;
    const int gi = reflect_index(ty0 + ly - r, rows);
    const int gj = reflect_index(tx0 + lx - r, cols);
    const float v = src[std::size_t(gi) * cols + gj];
    in[k] = v > 0.f ? v : 0.f;
  }
  __syncthreads();
  for (int k = threadIdx.x; k < kTileY * width; k += blockDim.x) {
    const int ly = k / width;
    const int lx = k - ly * width;
    const float* c = in + (ly + r) * width + lx;
    float acc = c[0] * g.w[0];
    for (int t = r; t >= 1; --t) acc += (c[-t * width] + c[t * width]) * g.w[t];
    mid[k] = acc;
  }
  __syncthreads();
  float* dst = out + blockIdx.y * frame_px;
  for (int k = threadIdx.x; k < kTileY * kTileX; k += blockDim.x) {
    const int ly = k / kTileX;
    const int lx = k - ly * kTileX;
    const int i = ty0 + ly;
    const int j = tx0 + lx;
    if (i >= rows || j >= cols) continue;
    const float* c = mid + ly * width + lx + r;
    float acc = c[0] * g.w[0];
    for (int t = r; t >= 1; --t) acc += (c[-t] + c[t]) * g.w[t];
    dst[std::size_t(i) * cols + j] = acc;
  }
}

// ---- 4. local maxima (bragg_disks_cpu.cpp: maxima_row, collect_maxima; filter (a))
// ---------------

// Key: intensity bits (a non-negative float orders like its bit pattern), row, column. Sorting keys
// descending orders by intensity, then row, then column, all descending: numpy's tie order.
__device__ __forceinline__ unsigned long long make_key(float v, unsigned i, unsigned j) {
  return (static_cast<unsigned long long>(__float_as_uint(v)) << 32) |
         (static_cast<unsigned long long>(i) << 16) | j;
}
__device__ __forceinline__ float key_intensity(unsigned long long k) {
  return __uint_as_float(static_cast<unsigned>(k >> 32));
}
__device__ __forceinline__ int key_row(unsigned long long k) { return int((k >> 16) & 0xffffu); }
__device__ __forceinline__ int key_col(unsigned long long k) { return int(k & 0xffffu); }

// One thread per interior pixel [eB, N - eB) x [eB, M - eB); the wrap-around of py4DSTEM's test
// never matters there (eB >= 1). Maxima below the absolute threshold are dropped here: the CPU
// drops them first, before any other filter.
__global__ void maxima_kernel(const float* __restrict__ sm,
                              const std::uint8_t* __restrict__ bad,
                              int rows,
                              int cols,
                              int eb,
                              double min_abs,
                              unsigned long long* __restrict__ keys,
                              std::uint32_t* __restrict__ counts,
                              std::uint32_t cap) {
  const unsigned f = blockIdx.y;
  if (bad != nullptr && bad[f]) return;  // uniform over the block: before any warp vote
  const unsigned iw = unsigned(cols - 2 * eb);
  const unsigned n = unsigned(rows - 2 * eb) * iw;
  const unsigned idx = blockIdx.x * blockDim.x + threadIdx.x;
  bool is_max = false;
  float v = 0.f;
  unsigned i = 0, j = 0;
  if (idx < n) {
    i = eb + idx / iw;
    j = eb + idx % iw;
    const float* c = sm + std::size_t(f) * rows * cols + std::size_t(i) * cols;
    const float* up = c - cols;
    const float* dn = c + cols;
    v = c[j];
    is_max = (v >= dn[j]) & (v > up[j]) & (v >= c[j + 1]) & (v > c[j - 1]) & (v >= dn[j + 1]) &
             (v > dn[j - 1]) & (v >= up[j + 1]) & (v > up[j - 1]);
    if (is_max && min_abs > 0 && double(v) < min_abs) is_max = false;
  }
  // Warp-aggregated append: one atomic per warp.
  const unsigned ballot = __ballot_sync(kFullMask, is_max);
  if (ballot == 0) return;
  const unsigned lane = threadIdx.x & 31u;
  const int leader = __ffs(ballot) - 1;
  unsigned base = 0;
  if (int(lane) == leader) base = atomicAdd(&counts[f], unsigned(__popc(ballot)));
  base = __shfl_sync(kFullMask, base, leader);
  if (is_max) {
    const unsigned pos = base + __popc(ballot & ((1u << lane) - 1u));
    if (pos < cap) keys[std::size_t(f) * cap + pos] = make_key(v, i, j);
  }
}

__global__ void segments_kernel(const std::uint32_t* __restrict__ counts,
                                long long* __restrict__ begin,
                                long long* __restrict__ end,
                                std::uint32_t cap,
                                std::uint32_t frames) {
  const unsigned f = blockIdx.x * blockDim.x + threadIdx.x;
  if (f >= frames) return;
  begin[f] = static_cast<long long>(f) * cap;
  end[f] = static_cast<long long>(f) * cap + counts[f];
}

// ---- 5. filters + poly (bragg_disks_cpu.cpp: select_peaks, poly)
// ---------------------------------

constexpr int kSelectWarps = 4;

struct Kept {
  int x;
  int y;
  float intensity;
};

struct SelectArgs {
  const unsigned long long* unsorted;
  const unsigned long long* sorted;
  const std::uint32_t* cand_count;
  const std::uint8_t* bad;
  const float* smooth;
  std::uint32_t cap;
  std::uint32_t count;
  int rows;
  int cols;
  double min_rel;
  int rel_to_peak;
  bool spacing;
  double spacing2;
  int max_peaks;
  int subpixel;
  DevPeak* peaks;
  std::uint32_t* peak_count;
};

// One warp per frame over its candidates in sorted order: the relative threshold (a prefix: the
// ratio to the reference is monotone in the intensity), then the greedy spacing walk until
// max_num_peaks are kept, then poly for each kept peak.
__global__ void __launch_bounds__(32 * kSelectWarps) select_kernel(SelectArgs a) {
  extern __shared__ Kept kept_all[];
  const unsigned warp = threadIdx.x / 32;
  const unsigned lane = threadIdx.x & 31u;
  const unsigned f = blockIdx.x * kSelectWarps + warp;
  if (f >= a.count) return;  // uniform over the warp
  Kept* kept = kept_all + std::size_t(warp) * a.max_peaks;
  std::uint32_t n = a.cand_count[f];
  if (a.bad != nullptr && a.bad[f]) n = 0;
  // A one-key segment may count as "empty" to the segmented sort; its keys are in order anyway.
  const unsigned long long* keys = (n >= 2 ? a.sorted : a.unsorted) + std::size_t(f) * a.cap;

  std::uint32_t n_keep = n;
  if (a.min_rel > 0 && n > std::uint32_t(a.rel_to_peak)) {
    const double ref = double(key_intensity(keys[a.rel_to_peak]));
    for (std::uint32_t base = 0; base < n; base += 32) {
      const std::uint32_t i = base + lane;
      const bool drop = i < n && double(key_intensity(keys[i])) / ref < a.min_rel;
      const unsigned b = __ballot_sync(kFullMask, drop);
      if (b != 0) {
        n_keep = base + unsigned(__ffs(b) - 1);
        break;
      }
    }
  }

  int kept_n = 0;
  const int max_peaks = a.max_peaks;
  if (!a.spacing) {
    kept_n = int(n_keep < std::uint32_t(max_peaks) ? n_keep : std::uint32_t(max_peaks));
    for (int k = int(lane); k < kept_n; k += 32) {
      const unsigned long long key = keys[k];
      kept[k] = Kept{key_row(key), key_col(key), key_intensity(key)};
    }
  } else {
    for (std::uint32_t base = 0; base < n_keep && kept_n < max_peaks; base += 32) {
      const std::uint32_t i = base + lane;
      const unsigned long long mine = i < n_keep ? keys[i] : 0ull;
      const std::uint32_t m = n_keep - base < 32 ? n_keep - base : 32;
      for (std::uint32_t q = 0; q < m && kept_n < max_peaks; ++q) {
        const unsigned long long key = __shfl_sync(kFullMask, mine, int(q));
        const long long x = key_row(key), y = key_col(key);
        bool close = false;
        for (int k = int(lane); k < kept_n; k += 32) {
          const long long dx = x - kept[k].x, dy = y - kept[k].y;
          close |= double(dx * dx + dy * dy) < a.spacing2;
        }
        if (!__any_sync(kFullMask, close)) {
          if (lane == q) kept[kept_n] = Kept{int(x), int(y), key_intensity(key)};
          ++kept_n;
          __syncwarp();
        }
      }
    }
  }
  __syncwarp();

  DevPeak* out = a.peaks + std::size_t(f) * max_peaks;
  const float* ar = a.smooth + std::size_t(f) * a.rows * a.cols;
  const long nc = a.cols;
  for (int k = int(lane); k < kept_n; k += 32) {
    const Kept e = kept[k];
    double x = e.x, y = e.y, intensity = e.intensity;
    if (a.subpixel >= 1) {
      // The parabola through the maximum and its neighbours in each axis, then the bilinear value
      // of the smoothed correlation there, in py4DSTEM's order of terms (float64, as the CPU path).
      const auto at = [&](long i, long j) { return double(ar[i * nc + j]); };
      const long xi = e.x, yi = e.y;
      const double ix1_ = at(xi - 1, yi), ix0 = at(xi, yi), ix1 = at(xi + 1, yi);
      const double iy1_ = at(xi, yi - 1), iy1 = at(xi, yi + 1);
      const double dx = (ix1 - ix1_) / (4 * ix0 - 2 * ix1 - 2 * ix1_);
      const double dy = (iy1 - iy1_) / (4 * ix0 - 2 * iy1 - 2 * iy1_);
      const double nx = xi + dx, ny = yi + dy;
      const double fx0 = floor(nx), fx1 = ceil(nx), fy0 = floor(ny), fy1 = ceil(ny);
      if (fx0 >= 0 && fx1 < a.rows && fy0 >= 0 && fy1 < a.cols) {
        x = nx;
        y = ny;
        const long x0 = long(fx0), x1 = long(fx1), y0 = long(fy0), y1 = long(fy1);
        const double ddx = nx - double(x0), ddy = ny - double(y0);
        intensity = (1 - ddx) * (1 - ddy) * at(x0, y0) + (1 - ddx) * ddy * at(x0, y1) +
                    ddx * (1 - ddy) * at(x1, y0) + ddx * ddy * at(x1, y1);
      }
    }
    out[k] = DevPeak{x, y, intensity};
  }
  if (lane == 0) a.peak_count[f] = std::uint32_t(kept_n);
}

// ---- 6. multicorr (multicorr_cpu.cpp: UpsampledDft::patches_direct + refine)
// ---------------------

struct MulticorrArgs {
  const float2* spec;  // capacity x rows x ncols (the kept hybrid spectrum)
  std::uint32_t rows;
  std::uint32_t cols;
  std::uint32_t ncols;
  const std::uint32_t* peak_count;
  DevPeak* peaks;
  int max_peaks;
  int us;
  int n;
  int g;
  long long lx;
  long long ly;
  bool nyq_row;
  bool nyq_col;
  const double2* twx;
  const double2* twy;
  const double2* omega;
};

__device__ __forceinline__ long long pos_mod(long long a, long long m) {
  const long long r = a % m;
  return r < 0 ? r + m : r;
}
__device__ __forceinline__ long long fft_freq(long long k, long long n) {
  return k < (n + 1) / 2 ? k : k - n;
}

// One block per (peak, frame). The patch py4DSTEM computes,
//   P[k, l] = Re sum_{u,v} C[u,v] exp(2 pi i (f_u jx_k / lx + f_v jy_l / ly)),
// over the half spectrum (conjugate columns weighted 2; the Nyquist row, column and corner of even
// sizes handled as in multicorr_cpu.cpp), accumulated in float64:
//   stage 1: G[k, v] = sum_u C[u, v] a_u(k), the row twiddles a_u(k) staged in shared memory
//            kMulticorrRowTile rows at a time, kMulticorrRowsPerThread patch rows per thread;
//   stage 2: P[k, l] = sum_v Re(G[k, v] w_v b_v(jy0) omega_v(l)).
// Then numpy's argmax (first occurrence), the 3-point parabola (none on the patch border) and the
// new position; the intensity stays the poly value.
__global__ void __launch_bounds__(kMulticorrThreads) multicorr_kernel(MulticorrArgs a) {
  const int peak = blockIdx.x;
  const unsigned f = blockIdx.y;
  if (peak >= int(a.peak_count[f])) return;
  extern __shared__ double2 mc_smem[];
  const int n = a.n;
  const int padded = multicorr_padded_rows(n);
  double2* G = mc_smem;                          // n x ncols
  double2* tile = G + std::size_t(n) * a.ncols;  // padded x kMulticorrRowTile
  double* P = reinterpret_cast<double*>(tile + std::size_t(padded) * kMulticorrRowTile);  // n x n
  double* red_val = P + std::size_t(n) * n;  // one per warp
  int* red_idx = reinterpret_cast<int*>(red_val + kMulticorrThreads / 32);

  DevPeak* pk = a.peaks + std::size_t(f) * a.max_peaks + peak;
  // multicorr_cpu.cpp start_of: half-pixel rounding, then the 1/us grid (numpy rounds half to even,
  // as rint does).
  const double us = a.us;
  double xs = rint(pk->x * 2) / 2, ys = rint(pk->y * 2) / 2;
  xs = rint(xs * us) / us;
  ys = rint(ys * us) / us;
  const long long jx0 = static_cast<long long>(rint(xs * us)) - a.g;
  const long long jy0 = static_cast<long long>(rint(ys * us)) - a.g;
  const float2* C = a.spec + std::size_t(f) * a.rows * a.ncols;

  const int chunks = padded / kMulticorrRowsPerThread;
  const int items = int(a.ncols) * chunks;
  for (int item0 = 0; item0 < items; item0 += blockDim.x) {
    const int item = item0 + int(threadIdx.x);
    const bool active = item < items;
    const int v = active ? item % int(a.ncols) : 0;
    const int k0 = active ? (item / int(a.ncols)) * kMulticorrRowsPerThread : 0;
    double acc_re[kMulticorrRowsPerThread];
    double acc_im[kMulticorrRowsPerThread];
#pragma unroll
    for (int q = 0; q < kMulticorrRowsPerThread; ++q) acc_re[q] = acc_im[q] = 0.0;
    for (std::uint32_t u0 = 0; u0 < a.rows; u0 += kMulticorrRowTile) {
      __syncthreads();  // the previous tile is consumed
      for (int t = threadIdx.x; t < padded * kMulticorrRowTile; t += blockDim.x) {
        const int k = t / kMulticorrRowTile;
        const std::uint32_t u = u0 + std::uint32_t(t - k * kMulticorrRowTile);
        double2 w = make_double2(0.0, 0.0);
        if (k < n && u < a.rows) {
          w = a.twx[pos_mod(fft_freq(u, a.rows) * (jx0 + k), a.lx)];
          if (a.nyq_row && u == a.rows / 2) w.y = 0.0;  // the unpaired Nyquist row: its cosine
        }
        tile[t] = w;
      }
      __syncthreads();
      if (active) {
        const std::uint32_t uend =
            a.rows - u0 < kMulticorrRowTile ? a.rows - u0 : kMulticorrRowTile;
        for (std::uint32_t uu = 0; uu < uend; ++uu) {
          const float2 c = C[std::size_t(u0 + uu) * a.ncols + v];
          const double cr = c.x, ci = c.y;
#pragma unroll
          for (int q = 0; q < kMulticorrRowsPerThread; ++q) {
            const double2 w = tile[(k0 + q) * kMulticorrRowTile + uu];
            acc_re[q] += w.x * cr - w.y * ci;
            acc_im[q] += w.x * ci + w.y * cr;
          }
        }
      }
    }
    if (active) {
      // Column phase w_v exp(2 pi i f_v jy0 / ly); the unpaired Nyquist column keeps Re(G) only.
      const bool nyq = a.nyq_col && std::uint32_t(v) == a.cols / 2;
      const double wv = (v == 0 || nyq) ? 1.0 : 2.0;
      double2 ph = a.twy[pos_mod(fft_freq(v, a.cols) * jy0, a.ly)];
      ph.x *= wv;
      ph.y *= wv;
#pragma unroll
      for (int q = 0; q < kMulticorrRowsPerThread; ++q) {
        const int k = k0 + q;
        if (k < n) {
          const double gr = acc_re[q];
          const double gi = nyq ? 0.0 : acc_im[q];
          G[std::size_t(k) * a.ncols + v] =
              make_double2(gr * ph.x - gi * ph.y, gr * ph.y + gi * ph.x);
        }
      }
    }
  }
  __syncthreads();

  const bool corner = a.nyq_row && a.nyq_col;
  const double c_corner =
      corner ? double(C[std::size_t(a.rows / 2) * a.ncols + a.cols / 2].x) : 0.0;
  for (int t = threadIdx.x; t < n * n; t += blockDim.x) {
    const int k = t / n;
    const int l = t - k * n;
    const double2* gk = G + std::size_t(k) * a.ncols;
    double acc = 0.0;
    for (std::uint32_t v = 0; v < a.ncols; ++v) {
      const double2 gv = gk[v];
      const double2 om = a.omega[std::size_t(v) * n + l];
      acc += gv.x * om.x - gv.y * om.y;
    }
    if (corner) {  // the corner (N/2, M/2) term: - C sin(pi X_k) sin(pi Y_l)
      const double sx = c_corner * a.twx[pos_mod((long long)(a.rows / 2) * (jx0 + k), a.lx)].y;
      const double sy = a.twy[pos_mod((long long)(a.cols / 2) * (jy0 + l), a.ly)].y;
      acc -= sx * sy;
    }
    P[t] = acc;
  }
  __syncthreads();

  // argmax, first occurrence in C order: larger value wins, equal values keep the smaller index.
  double best = -INFINITY;
  int best_i = n * n;
  for (int t = threadIdx.x; t < n * n; t += blockDim.x) {
    const double val = P[t];
    if (val > best || (val == best && t < best_i)) {
      best = val;
      best_i = t;
    }
  }
  for (int off = 16; off > 0; off >>= 1) {
    const double ov = __shfl_down_sync(kFullMask, best, off);
    const int oi = __shfl_down_sync(kFullMask, best_i, off);
    if (ov > best || (ov == best && oi < best_i)) {
      best = ov;
      best_i = oi;
    }
  }
  const unsigned warp = threadIdx.x / 32;
  if ((threadIdx.x & 31u) == 0) {
    red_val[warp] = best;
    red_idx[warp] = best_i;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  best = red_val[0];
  best_i = red_idx[0];
  for (unsigned w = 1; w < blockDim.x / 32; ++w) {
    if (red_val[w] > best || (red_val[w] == best && red_idx[w] < best_i)) {
      best = red_val[w];
      best_i = red_idx[w];
    }
  }
  if (best_i >= n * n) best_i = 0;  // all NaN: numpy's argmax would also give 0
  const int ai = best_i / n;
  const int bi = best_i - ai * n;
  double dx = 0, dy = 0;
  if (ai > 0 && ai < n - 1 && bi > 0 && bi < n - 1) {
    const double c = P[ai * n + bi];
    const double xp = P[(ai + 1) * n + bi], xm = P[(ai - 1) * n + bi];
    const double yp = P[ai * n + bi + 1], ym = P[ai * n + bi - 1];
    dx = (xp - xm) / (4 * c - 2 * xp - 2 * xm);
    dy = (yp - ym) / (4 * c - 2 * yp - 2 * ym);
  }
  pk->x = xs + ((double(ai) - double(a.g)) + dx) / us;
  pk->y = ys + ((double(bi) - double(a.g)) + dy) / us;
}

// multicorr re-sorts the peaks by intensity (ties: row, then column, descending), as the CPU path's
// std::sort with record_before. One warp per frame; rank sort (at most max_num_peaks records).
__device__ __forceinline__ bool peak_before(const DevPeak& a, const DevPeak& b) {
  if (a.intensity != b.intensity) return a.intensity > b.intensity;
  if (a.x != b.x) return a.x > b.x;
  return a.y > b.y;
}

__global__ void __launch_bounds__(32 * kSelectWarps) resort_kernel(DevPeak* peaks,
                                                                   const std::uint32_t* peak_count,
                                                                   int max_peaks,
                                                                   std::uint32_t count) {
  extern __shared__ DevPeak buf_all[];
  const unsigned warp = threadIdx.x / 32;
  const unsigned lane = threadIdx.x & 31u;
  const unsigned f = blockIdx.x * kSelectWarps + warp;
  if (f >= count) return;
  DevPeak* buf = buf_all + std::size_t(warp) * max_peaks;
  DevPeak* p = peaks + std::size_t(f) * max_peaks;
  const int n = int(peak_count[f]);
  for (int i = int(lane); i < n; i += 32) buf[i] = p[i];
  __syncwarp();
  for (int i = int(lane); i < n; i += 32) {
    const DevPeak e = buf[i];
    int rank = 0;
    for (int j = 0; j < n; ++j) {
      const DevPeak& o = buf[j];
      const bool same = o.intensity == e.intensity && o.x == e.x && o.y == e.y;
      rank += peak_before(o, e) || (same && j < i);
    }
    p[rank] = e;
  }
}

__global__ void template_kernel(const double2* __restrict__ spec,
                                float2* __restrict__ out,
                                std::size_t n,
                                double scale,
                                bool delta) {
  const std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (delta) {
    out[i] = make_float2(float(scale), 0.f);
    return;
  }
  // conj(FFT(template)) * scale, rounded to float32 once (as the CPU path's static_cast<Real>).
  out[i] = make_float2(float(spec[i].x * scale), float(-spec[i].y * scale));
}

}  // namespace

cudaError_t bragg_sort_temp_bytes(std::uint32_t capacity,
                                  std::uint32_t cand_capacity,
                                  std::size_t& bytes) {
  bytes = 0;
  return cub::DeviceSegmentedSort::SortKeysDescending(
      nullptr,
      bytes,
      static_cast<const unsigned long long*>(nullptr),
      static_cast<unsigned long long*>(nullptr),
      static_cast<long long>(capacity) * cand_capacity,
      static_cast<long long>(capacity),
      static_cast<const long long*>(nullptr),
      static_cast<const long long*>(nullptr),
      nullptr);
}

cudaError_t bragg_prepare_device(const BraggKernelParams& p) {
  if (p.subpixel == 2) {
    STEMFLOW_CUDA_TRY(cudaFuncSetAttribute(multicorr_kernel,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(p.mc_smem)));
  }
  const int r = p.gauss_radius;
  const std::size_t gauss_smem = sizeof(float) * (std::size_t(kTileY + 2 * r) * (kTileX + 2 * r) +
                                                  std::size_t(kTileY) * (kTileX + 2 * r));
  if (gauss_smem > 48 * 1024) {
    STEMFLOW_CUDA_TRY(cudaFuncSetAttribute(
        gauss_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(gauss_smem)));
  }
  return cudaSuccess;
}

cudaError_t build_template_spectrum(const double* h_kernel,
                                    std::uint32_t rows,
                                    std::uint32_t cols,
                                    double scale,
                                    float2* d_template,
                                    cudaStream_t stream) {
  const std::size_t half = cols / 2 + 1;
  const std::size_t nspec = std::size_t(rows) * half;
  const unsigned grid = unsigned((nspec + kThreads - 1) / kThreads);
  if (h_kernel == nullptr) {
    template_kernel<<<grid, kThreads, 0, stream>>>(nullptr, d_template, nspec, scale, true);
    STEMFLOW_CUDA_TRY(cudaGetLastError());
    return cudaStreamSynchronize(stream);
  }
  double* d_in = nullptr;
  double2* d_out = nullptr;
  cufftHandle plan = 0;
  cudaError_t err = cudaSuccess;
  // Start-up only: plain allocations, freed before returning whatever happens.
  do {
    err = cudaMalloc(&d_in, sizeof(double) * rows * cols);
    if (err != cudaSuccess) break;
    err = cudaMalloc(&d_out, sizeof(double2) * nspec);
    if (err != cudaSuccess) break;
    err = cudaMemcpyAsync(
        d_in, h_kernel, sizeof(double) * rows * cols, cudaMemcpyHostToDevice, stream);
    if (err != cudaSuccess) break;
    cufftResult fr = cufftPlan2d(&plan, int(rows), int(cols), CUFFT_D2Z);
    if (fr == CUFFT_SUCCESS) fr = cufftSetStream(plan, stream);
    if (fr == CUFFT_SUCCESS)
      fr = cufftExecD2Z(plan, d_in, reinterpret_cast<cufftDoubleComplex*>(d_out));
    if (fr != CUFFT_SUCCESS) {
      err = cufft_to_cuda(fr);
      break;
    }
    template_kernel<<<grid, kThreads, 0, stream>>>(d_out, d_template, nspec, scale, false);
    err = cudaGetLastError();
    if (err != cudaSuccess) break;
    err = cudaStreamSynchronize(stream);
  } while (false);
  if (plan != 0) cufftDestroy(plan);
  cudaFree(d_in);
  cudaFree(d_out);
  return err;
}

cudaError_t launch_bragg_disks(const BraggKernelParams& p,
                               const BraggKernelBuffers& b,
                               std::uint32_t count,
                               const BraggStageEvents* events,
                               cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  const std::size_t px = std::size_t(p.rows) * p.cols;
  const std::uint32_t nspec = p.rows * p.half;

  // 1. pixels -> float32 (R2C input)
  switch (p.pixels) {
    case PixelType::kU8:
      STEMFLOW_CUDA_TRY(convert<std::uint8_t>(b.d_frames, b.d_real, count * px, stream));
      break;
    case PixelType::kU16:
      STEMFLOW_CUDA_TRY(convert<std::uint16_t>(b.d_frames, b.d_real, count * px, stream));
      break;
    case PixelType::kU32:
      STEMFLOW_CUDA_TRY(convert<std::uint32_t>(b.d_frames, b.d_real, count * px, stream));
      break;
    case PixelType::kF32:
      STEMFLOW_CUDA_TRY(convert<float>(b.d_frames, b.d_real, count * px, stream));
      break;
  }
  // 2. batched R2C, the fused hybrid multiply, batched C2R (real(ifft2): the C2R output)
  STEMFLOW_CUFFT_TRY(cufftSetStream(b.r2c, stream));
  STEMFLOW_CUFFT_TRY(cufftSetStream(b.c2r, stream));
  STEMFLOW_CUFFT_TRY(cufftExecR2C(b.r2c, b.d_real, reinterpret_cast<cufftComplex*>(b.d_spec)));
  const HybridArgs h{p.linear, p.phase_only, p.corr_exp, p.inv_n, p.at_zero};
  correlate_kernel<<<dim3((nspec + kThreads - 1) / kThreads, count), kThreads, 0, stream>>>(
      b.d_spec, p.subpixel == 2 ? b.d_keep : nullptr, b.d_template, nspec, h);
  STEMFLOW_CUDA_TRY(cudaGetLastError());
  STEMFLOW_CUFFT_TRY(cufftExecC2R(b.c2r, reinterpret_cast<cufftComplex*>(b.d_spec), b.d_real));
  if (events != nullptr && events->after_fft != nullptr) {
    STEMFLOW_CUDA_TRY(cudaEventRecord(events->after_fft, stream));
  }

  // 3. clip + Gaussian
  {
    GaussArgs g{};
    g.r = p.gauss_radius;
    for (int t = 0; t <= p.gauss_radius && t <= kBraggMaxGaussRadius; ++t)
      g.w[t] = p.gauss_weights[t];
    const int tiles_x = int((p.cols + kTileX - 1) / kTileX);
    const int tiles_y = int((p.rows + kTileY - 1) / kTileY);
    const std::size_t smem = sizeof(float) * (std::size_t(kTileY + 2 * g.r) * (kTileX + 2 * g.r) +
                                              std::size_t(kTileY) * (kTileX + 2 * g.r));
    gauss_kernel<<<dim3(tiles_x * tiles_y, count), kThreads, smem, stream>>>(
        b.d_real, b.d_smooth, int(p.rows), int(p.cols), tiles_x, g);
    STEMFLOW_CUDA_TRY(cudaGetLastError());
  }

  // 4. local maxima -> candidate keys; counts of every slot frame zeroed so that the sort's unused
  // segments are empty.
  STEMFLOW_CUDA_TRY(cudaMemsetAsync(b.d_cand_count, 0, sizeof(std::uint32_t) * p.capacity, stream));
  const long ih = long(p.rows) - 2L * p.edge, iw = long(p.cols) - 2L * p.edge;
  if (ih > 0 && iw > 0) {
    const std::size_t interior = std::size_t(ih) * std::size_t(iw);
    maxima_kernel<<<dim3(unsigned((interior + kThreads - 1) / kThreads), count),
                    kThreads,
                    0,
                    stream>>>(b.d_smooth,
                              b.d_bad,
                              int(p.rows),
                              int(p.cols),
                              p.edge,
                              p.min_absolute,
                              b.d_keys,
                              b.d_cand_count,
                              p.cand_capacity);
    STEMFLOW_CUDA_TRY(cudaGetLastError());
  }
  segments_kernel<<<grid_for(p.capacity, kThreads), kThreads, 0, stream>>>(
      b.d_cand_count, b.d_seg_begin, b.d_seg_end, p.cand_capacity, p.capacity);
  STEMFLOW_CUDA_TRY(cudaGetLastError());

  // 5. per-frame sort of the candidates (descending keys: numpy's order)
  {
    std::size_t temp = b.sort_temp_bytes;
    STEMFLOW_CUDA_TRY(cub::DeviceSegmentedSort::SortKeysDescending(
        b.d_sort_temp,
        temp,
        static_cast<const unsigned long long*>(b.d_keys),
        b.d_keys_sorted,
        static_cast<long long>(p.capacity) * p.cand_capacity,
        static_cast<long long>(p.capacity),
        static_cast<const long long*>(b.d_seg_begin),
        static_cast<const long long*>(b.d_seg_end),
        stream));
  }

  // 6. filters, spacing walk, max_num_peaks, poly
  SelectArgs s{};
  s.unsorted = b.d_keys;
  s.sorted = b.d_keys_sorted;
  s.cand_count = b.d_cand_count;
  s.bad = b.d_bad;
  s.smooth = b.d_smooth;
  s.cap = p.cand_capacity;
  s.count = count;
  s.rows = int(p.rows);
  s.cols = int(p.cols);
  s.min_rel = p.min_relative;
  s.rel_to_peak = p.relative_to_peak;
  s.spacing = p.spacing;
  s.spacing2 = p.spacing2;
  s.max_peaks = p.max_peaks;
  s.subpixel = p.subpixel;
  s.peaks = static_cast<DevPeak*>(b.d_peaks);
  s.peak_count = b.d_peak_count;
  const unsigned warp_blocks = (count + kSelectWarps - 1) / kSelectWarps;
  select_kernel<<<warp_blocks,
                  32 * kSelectWarps,
                  sizeof(Kept) * kSelectWarps * p.max_peaks,
                  stream>>>(s);
  STEMFLOW_CUDA_TRY(cudaGetLastError());

  // 7. multicorr and the re-sort
  if (p.subpixel == 2) {
    MulticorrArgs m{};
    m.spec = b.d_keep;
    m.rows = p.rows;
    m.cols = p.cols;
    m.ncols = p.half;
    m.peak_count = b.d_peak_count;
    m.peaks = static_cast<DevPeak*>(b.d_peaks);
    m.max_peaks = p.max_peaks;
    m.us = p.us;
    m.n = p.mc_n;
    m.g = p.mc_g;
    m.lx = p.lx;
    m.ly = p.ly;
    m.nyq_row = p.nyq_row;
    m.nyq_col = p.nyq_col;
    m.twx = b.d_twx;
    m.twy = b.d_twy;
    m.omega = b.d_omega;
    multicorr_kernel<<<dim3(p.max_peaks, count), kMulticorrThreads, p.mc_smem, stream>>>(m);
    STEMFLOW_CUDA_TRY(cudaGetLastError());
    resort_kernel<<<warp_blocks,
                    32 * kSelectWarps,
                    sizeof(DevPeak) * kSelectWarps * p.max_peaks,
                    stream>>>(static_cast<DevPeak*>(b.d_peaks), b.d_peak_count, p.max_peaks, count);
    STEMFLOW_CUDA_TRY(cudaGetLastError());
  }
  if (events != nullptr && events->after_peaks != nullptr) {
    STEMFLOW_CUDA_TRY(cudaEventRecord(events->after_peaks, stream));
  }
  return cudaSuccess;
}

}  // namespace stemflow::gpu
