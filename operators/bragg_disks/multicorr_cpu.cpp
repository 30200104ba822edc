// SPDX-License-Identifier: GPL-3.0-or-later
// multicorr: see multicorr_cpu.hpp for the formulation. The patch py4DSTEM computes is
//   P[k, l] = Re sum_{u,v} C[u,v] a_u(k) b_v(l),  a_u(k) = exp(2 pi i f_u jx_k / lx),
//   b_v(l) = exp(2 pi i f_v jy_l / ly),  jx_k = jx0 + k,  jy_l = jy0 + l,
// f = numpy's integer FFT frequencies (the Nyquist bin of an even size is -N/2).
// For a real signal C[-u,-v] = conj(C[u,v]); pairing column v with -v gives
//   P = sum_{v=0}^{ny/2} w_v Re(G[k,v] b_v(l))  (+ corner term),  G[k,v] = sum_u C[u,v] ~a_u(k),
// with w_v = 2 for paired columns and 1 for column 0; ~a = a except on the Nyquist row of an even
// nx, where ~a = cos(angle a) (half the coefficient at +nx/2 and half at -nx/2). The Nyquist column
// of an even ny contributes Re(G) Re(b), and the corner (nx/2, ny/2) a correction -C sin(pi X)
// sin(pi Y).
#include "operators/bragg_disks/multicorr_cpu.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

#include "operators/bragg_disks/simd_clones.hpp"

namespace stemflow::ops {
namespace {

long long pos_mod(long long a, long long m) {
  long long r = a % m;
  return r < 0 ? r + m : r;
}

// numpy's integer FFT frequency of bin k of an n-point transform.
long long freq(long long k, long long n) { return k < (n + 1) / 2 ? k : k - n; }

// The second stage: P (n x ldp) += gre (n x nb) * ore (nb x ldp) - gim (n x nb) * oim (nb x ldp),
// ldp a multiple of the vector width. Each patch row is held in NV vector registers over all nb
// columns (NV = ldp / lanes, a compile-time count for the usual upsampling factors).
template <int NV, class T>
[[gnu::always_inline]] inline void accumulate_rows(T* __restrict P,
                                                   int n,
                                                   int ldp,
                                                   const T* __restrict gre,
                                                   const T* __restrict gim,
                                                   int ldg,
                                                   const T* __restrict ore,
                                                   const T* __restrict oim,
                                                   int nb) {
  using S = Simd<T>;
  for (int k = 0; k < n; ++k) {
    T* pk = P + std::size_t(k) * ldp;
    typename S::V acc[NV];
    for (int q = 0; q < NV; ++q) acc[q] = S::load(pk + q * S::kLanes);
    for (int b = 0; b < nb; ++b) {
      const T a = gre[std::size_t(k) * ldg + b];
      const T c = gim[std::size_t(k) * ldg + b];
      const T* orb = ore + std::size_t(b) * ldp;
      const T* oib = oim + std::size_t(b) * ldp;
      for (int q = 0; q < NV; ++q) {
        acc[q] += a * S::load(orb + q * S::kLanes) - c * S::load(oib + q * S::kLanes);
      }
    }
    for (int q = 0; q < NV; ++q) S::store(pk + q * S::kLanes, acc[q]);
  }
}

template <class T>
[[gnu::always_inline]] inline void accumulate_patch_impl(
    T* P, int n, int ldp, const T* gre, const T* gim, int ldg, const T* ore, const T* oim, int nb) {
  switch (ldp / Simd<T>::kLanes) {
    case 1:
      return accumulate_rows<1>(P, n, ldp, gre, gim, ldg, ore, oim, nb);
    case 2:
      return accumulate_rows<2>(P, n, ldp, gre, gim, ldg, ore, oim, nb);
    case 3:
      return accumulate_rows<3>(P, n, ldp, gre, gim, ldg, ore, oim, nb);
    case 4:
      return accumulate_rows<4>(P, n, ldp, gre, gim, ldg, ore, oim, nb);
    case 5:
      return accumulate_rows<5>(P, n, ldp, gre, gim, ldg, ore, oim, nb);
    case 6:
      return accumulate_rows<6>(P, n, ldp, gre, gim, ldg, ore, oim, nb);
    default:
      break;
  }
  for (int k = 0; k < n; ++k) {  // large upsampling factors: plain loops
    T* __restrict pk = P + std::size_t(k) * ldp;
    for (int b = 0; b < nb; ++b) {
      const T a = gre[std::size_t(k) * ldg + b];
      const T c = gim[std::size_t(k) * ldg + b];
      const T* __restrict orb = ore + std::size_t(b) * ldp;
      const T* __restrict oib = oim + std::size_t(b) * ldp;
      for (int l = 0; l < ldp; ++l) pk[l] += a * orb[l] - c * oib[l];
    }
  }
}

STEMFLOW_SIMD_CLONES
void accumulate_patch(float* P,
                      int n,
                      int ldp,
                      const float* gre,
                      const float* gim,
                      int ldg,
                      const float* ore,
                      const float* oim,
                      int nb) {
  accumulate_patch_impl(P, n, ldp, gre, gim, ldg, ore, oim, nb);
}
STEMFLOW_SIMD_CLONES
void accumulate_patch(double* P,
                      int n,
                      int ldp,
                      const double* gre,
                      const double* gim,
                      int ldg,
                      const double* ore,
                      const double* oim,
                      int nb) {
  accumulate_patch_impl(P, n, ldp, gre, gim, ldg, ore, oim, nb);
}

// G (n x m, planar) = A (n x nx, planar) * S (nx x m, planar): the direct first stage, four rows of
// A at a time so that each spectrum row is read once per four.
template <class T>
[[gnu::always_inline]] inline void complex_gemm_impl(int n,
                                                     int nx,
                                                     int m,
                                                     const T* __restrict are,
                                                     const T* __restrict aim,
                                                     const T* __restrict sre,
                                                     const T* __restrict sim,
                                                     T* __restrict gre,
                                                     T* __restrict gim) {
  std::fill(gre, gre + std::size_t(n) * m, T(0));
  std::fill(gim, gim + std::size_t(n) * m, T(0));
  int k = 0;
  for (; k + 4 <= n; k += 4) {
    T* __restrict r0 = gre + std::size_t(k) * m;
    T* __restrict r1 = r0 + m;
    T* __restrict r2 = r1 + m;
    T* __restrict r3 = r2 + m;
    T* __restrict i0 = gim + std::size_t(k) * m;
    T* __restrict i1 = i0 + m;
    T* __restrict i2 = i1 + m;
    T* __restrict i3 = i2 + m;
    for (int u = 0; u < nx; ++u) {
      const T a0 = are[std::size_t(k) * nx + u], b0 = aim[std::size_t(k) * nx + u];
      const T a1 = are[std::size_t(k + 1) * nx + u], b1 = aim[std::size_t(k + 1) * nx + u];
      const T a2 = are[std::size_t(k + 2) * nx + u], b2 = aim[std::size_t(k + 2) * nx + u];
      const T a3 = are[std::size_t(k + 3) * nx + u], b3 = aim[std::size_t(k + 3) * nx + u];
      const T* __restrict sr = sre + std::size_t(u) * m;
      const T* __restrict si = sim + std::size_t(u) * m;
      for (int v = 0; v < m; ++v) {
        const T x = sr[v], y = si[v];
        r0[v] += a0 * x - b0 * y;
        i0[v] += a0 * y + b0 * x;
        r1[v] += a1 * x - b1 * y;
        i1[v] += a1 * y + b1 * x;
        r2[v] += a2 * x - b2 * y;
        i2[v] += a2 * y + b2 * x;
        r3[v] += a3 * x - b3 * y;
        i3[v] += a3 * y + b3 * x;
      }
    }
  }
  for (; k < n; ++k) {
    T* __restrict r0 = gre + std::size_t(k) * m;
    T* __restrict i0 = gim + std::size_t(k) * m;
    for (int u = 0; u < nx; ++u) {
      const T a0 = are[std::size_t(k) * nx + u], b0 = aim[std::size_t(k) * nx + u];
      const T* __restrict sr = sre + std::size_t(u) * m;
      const T* __restrict si = sim + std::size_t(u) * m;
      for (int v = 0; v < m; ++v) {
        r0[v] += a0 * sr[v] - b0 * si[v];
        i0[v] += a0 * si[v] + b0 * sr[v];
      }
    }
  }
}

STEMFLOW_SIMD_CLONES
void complex_gemm(int n,
                  int nx,
                  int m,
                  const float* are,
                  const float* aim,
                  const float* sre,
                  const float* sim,
                  float* gre,
                  float* gim) {
  complex_gemm_impl(n, nx, m, are, aim, sre, sim, gre, gim);
}
STEMFLOW_SIMD_CLONES
void complex_gemm(int n,
                  int nx,
                  int m,
                  const double* are,
                  const double* aim,
                  const double* sre,
                  const double* sim,
                  double* gre,
                  double* gim) {
  complex_gemm_impl(n, nx, m, are, aim, sre, sim, gre, gim);
}

// Columns per batched FFT: enough to amortise the call, few enough that the zero-padded block stays
// in the L2 cache.
int pick_block(long long lx, std::size_t complex_bytes, std::uint32_t ncols) {
  const long long budget = 256 * 1024;  // bytes of one of the two block buffers
  long long b = budget / (lx * static_cast<long long>(complex_bytes));
  b = std::clamp<long long>(b, 1, 16);
  // Spread the columns evenly over the blocks, so the last block is not mostly padding.
  const long long blocks = (ncols + b - 1) / b;
  return static_cast<int>((ncols + blocks - 1) / blocks);
}

}  // namespace

template <class Real>
UpsampledDft<Real>::UpsampledDft(std::uint32_t nx,
                                 std::uint32_t ny,
                                 int upsample_factor,
                                 bool hermitian,
                                 std::uint32_t max_peaks,
                                 MulticorrMethod method,
                                 unsigned fftw_flags)
    : nx_(nx),
      ny_(ny),
      us_(upsample_factor),
      hermitian_(hermitian),
      max_peaks_(max_peaks),
      method_(method),
      fftw_flags_(fftw_flags) {
  // py4DSTEM: numRow = ceil(1.5 us); globalShift = fix(ceil(1.5 us) / 2).
  n_ = static_cast<int>(std::ceil(1.5 * us_));
  g_ = static_cast<int>(std::trunc(std::ceil(us_ * 1.5) / 2));
  constexpr int kLanes = static_cast<int>(Simd<Real>::kLanes);
  ld_ = (n_ + kLanes - 1) / kLanes * kLanes;
  lx_ = static_cast<long long>(nx_) * us_;
  ly_ = static_cast<long long>(ny_) * us_;
  ncols_ = hermitian_ ? ny_ / 2 + 1 : ny_;
  nyq_row_ = hermitian_ && nx_ % 2 == 0;
  nyq_col_ = hermitian_ && ny_ % 2 == 0;
  block_ = pick_block(lx_, sizeof(Complex), ncols_);
  super_ = std::min<int>(static_cast<int>(ncols_), block_ * std::max(1, 64 / block_));

  fx_.resize(nx_);
  qx_.resize(nx_);
  for (std::uint32_t u = 0; u < nx_; ++u) {
    fx_[u] = freq(u, nx_);
    qx_[u] = pos_mod(fx_[u], lx_);
  }
  fy_.resize(ncols_);
  wcol_.resize(ncols_);
  for (std::uint32_t v = 0; v < ncols_; ++v) {
    fy_[v] = freq(v, ny_);
    const bool self_paired = v == 0 || (nyq_col_ && v == ny_ / 2);
    wcol_[v] = hermitian_ && !self_paired ? Real(2) : Real(1);
  }
  const auto table = [](long long len, std::vector<double>& re, std::vector<double>& im) {
    re.resize(len);
    im.resize(len);
    for (long long t = 0; t < len; ++t) {
      const double a = 2.0 * std::numbers::pi * double(t) / double(len);
      re[t] = std::cos(a);
      im[t] = std::sin(a);
    }
  };
  table(lx_, twx_re_, twx_im_);
  table(ly_, twy_re_, twy_im_);
  // Rows padded to ld_ (a whole number of vectors); the extra columns are computed and ignored.
  om_re_.resize(std::size_t(ncols_) * ld_);
  om_im_.resize(std::size_t(ncols_) * ld_);
  for (std::uint32_t v = 0; v < ncols_; ++v) {
    for (int l = 0; l < ld_; ++l) {
      const long long t = pos_mod(fy_[v] * l, ly_);
      om_re_[std::size_t(v) * ld_ + l] = static_cast<Real>(twy_re_[t]);
      om_im_[std::size_t(v) * ld_ + l] = static_cast<Real>(twy_im_[t]);
    }
  }
}

template <class Real>
auto UpsampledDft<Real>::make_workspace() const -> std::unique_ptr<Workspace> {
  using Api = fft::Api<Real>;
  auto ws = std::make_unique<Workspace>();
  const std::size_t blk = std::size_t(lx_) * block_;
  ws->z = fft::Buffer<Complex, Real>(blk);
  ws->o = fft::Buffer<Complex, Real>(blk);
  // Measuring planners scribble on the arrays: plan first, then zero the padding once. The plan
  // preserves its input, so the zero padding survives every execution.
  ws->plan = fft::Plan<Real>([&] {
    return Api::many_c2c(static_cast<int>(lx_),
                         block_,
                         ws->z.data(),
                         ws->o.data(),
                         FFTW_BACKWARD,
                         fftw_flags_ | FFTW_PRESERVE_INPUT);
  });
  std::memset(static_cast<void*>(ws->z.data()), 0, blk * sizeof(Complex));
  ws->starts.reserve(max_peaks_);
  ws->patches.resize(std::size_t(max_peaks_) * n_ * ld_);
  // kFft: max_peaks x n x super_ (a superblock of every peak); kDirect: n x ncols (one peak).
  const std::size_t gsize =
      std::max(std::size_t(max_peaks_) * n_ * super_, std::size_t(n_) * ncols_);
  ws->gre.resize(gsize);
  ws->gim.resize(gsize);
  ws->phr.resize(ncols_);
  ws->phi.resize(ncols_);
  ws->are.resize(std::size_t(n_) * nx_);
  ws->aim.resize(std::size_t(n_) * nx_);
  ws->sre.resize(std::size_t(nx_) * ncols_);
  ws->sim.resize(std::size_t(nx_) * ncols_);
  ws->sx.resize(n_);
  ws->sy.resize(n_);
  return ws;
}

template <class Real>
MulticorrMethod UpsampledDft<Real>::method_for(std::size_t n_peaks) const {
  if (method_ != MulticorrMethod::kAuto) return method_;
  // Per-frame cost models in units of one complex multiply-add: the batched column FFTs cost
  // ~ ncols * lx * log2(lx) / 4 and are shared by all peaks of the frame; the direct product costs
  // n * nx * ncols per peak (bench/bragg_cpu measures both; the crossover is a few peaks).
  const double fft_cost = double(ncols_) * double(lx_) * std::log2(double(lx_)) * 0.25;
  const double direct_cost = double(n_peaks) * n_ * double(nx_) * ncols_;
  return direct_cost < fft_cost ? MulticorrMethod::kDirect : MulticorrMethod::kFft;
}

template <class Real>
auto UpsampledDft<Real>::start_of(double x, double y) const -> Start {
  // py4DSTEM: xy = round(2 xy) / 2 (half-pixel), then xy = round(xy us) / us, numpy rounding
  // (half to even, which nearbyint gives in the default rounding mode).
  Start s;
  s.xs = std::nearbyint(x * 2) / 2;
  s.ys = std::nearbyint(y * 2) / 2;
  s.xs = std::nearbyint(s.xs * us_) / us_;
  s.ys = std::nearbyint(s.ys * us_) / us_;
  // k - center = k - (globalShift - us xy): an integer fine-grid index.
  s.jx0 = static_cast<long long>(std::nearbyint(s.xs * us_)) - g_;
  s.jy0 = static_cast<long long>(std::nearbyint(s.ys * us_)) - g_;
  return s;
}

// phr/phi[v - v0] = w_v exp(2 pi i f_v jy0 / ly) for columns [v0, v0 + nb): the column phases of
// one peak (the table index advances by jy0 per column, so no division per column).
template <class Real>
void UpsampledDft<Real>::column_phases(
    long long jy0, std::uint32_t v0, int nb, Real* phr, Real* phi) const {
  const long long step = pos_mod(jy0, ly_);
  long long t = pos_mod(fy_[v0] * jy0, ly_);
  for (int b = 0; b < nb; ++b) {
    const std::uint32_t v = v0 + b;
    if (b > 0) {
      if (fy_[v] == fy_[v - 1] + 1) {
        t += step;
        if (t >= ly_) t -= ly_;
      } else {
        t = pos_mod(fy_[v] * jy0, ly_);
      }
    }
    phr[b] = static_cast<Real>(twy_re_[t]) * wcol_[v];
    phi[b] = static_cast<Real>(twy_im_[t]) * wcol_[v];
  }
}

template <class Real>
void UpsampledDft<Real>::corner_correction(const Complex* spectrum,
                                           const Start& s,
                                           Real* P,
                                           Workspace& ws) const {
  if (!(nyq_row_ && nyq_col_)) return;
  const double c = spectrum[std::size_t(nx_ / 2) * ncols_ + ny_ / 2][0];
  // sin(pi j / us) = Im exp(2 pi i (n/2) j / (n us))
  for (int k = 0; k < n_; ++k)
    ws.sx[k] = c * twx_im_[pos_mod((long long)(nx_ / 2) * (s.jx0 + k), lx_)];
  for (int l = 0; l < n_; ++l) ws.sy[l] = twy_im_[pos_mod((long long)(ny_ / 2) * (s.jy0 + l), ly_)];
  for (int k = 0; k < n_; ++k) {
    for (int l = 0; l < n_; ++l)
      P[std::size_t(k) * ld_ + l] -= static_cast<Real>(ws.sx[k] * ws.sy[l]);
  }
}

template <class Real>
void UpsampledDft<Real>::patches_fft(const Complex* spectrum,
                                     std::span<const Start> starts,
                                     Real* out,
                                     Workspace& ws) const {
  const std::size_t pstride = std::size_t(n_) * ld_;
  Complex* z = ws.z.data();
  const Complex* o = ws.o.data();
  const std::uint32_t half = nx_ / 2;
  // Columns go through the FFT in blocks of block_, and through the second stage in superblocks of
  // super_ columns (several FFT blocks), so that each patch row is loaded into registers once per
  // superblock rather than once per FFT block.
  const std::size_t gstride = std::size_t(n_) * super_;  // one peak's rows in the superblock buffer
  for (std::uint32_t sv0 = 0; sv0 < ncols_; sv0 += super_) {
    const std::uint32_t send = std::min<std::uint32_t>(ncols_, sv0 + super_);
    for (std::uint32_t v0 = sv0; v0 < send; v0 += block_) {
      const int nb = static_cast<int>(std::min<std::uint32_t>(block_, send - v0));
      // Scatter the block's columns into their zero-padded fine-grid positions.
      for (int b = 0; b < nb; ++b) {
        Complex* zc = z + std::size_t(b) * lx_;
        const Complex* col = spectrum + v0 + b;
        for (std::uint32_t u = 0; u < nx_; ++u) {
          zc[qx_[u]][0] = col[std::size_t(u) * ncols_][0];
          zc[qx_[u]][1] = col[std::size_t(u) * ncols_][1];
        }
        if (nyq_row_) {  // the Nyquist row: half at -nx/2, half at +nx/2 (its cosine)
          const Real re = col[std::size_t(half) * ncols_][0] * Real(0.5);
          const Real im = col[std::size_t(half) * ncols_][1] * Real(0.5);
          zc[qx_[half]][0] = re;
          zc[qx_[half]][1] = im;
          zc[half][0] = re;
          zc[half][1] = im;
        }
      }
      ws.plan.execute();
      // Each peak's n rows of the block, times the column phases, into the superblock buffer.
      const bool has_nyq_col = nyq_col_ && ny_ / 2 >= v0 && ny_ / 2 < v0 + nb;
      const std::size_t off = v0 - sv0;
      for (std::size_t p = 0; p < starts.size(); ++p) {
        const Start& s = starts[p];
        column_phases(s.jy0, v0, nb, ws.phr.data(), ws.phi.data());
        long long row = pos_mod(s.jx0, lx_);
        for (int k = 0; k < n_; ++k, row = row + 1 == lx_ ? 0 : row + 1) {
          Real* gr = ws.gre.data() + p * gstride + std::size_t(k) * super_ + off;
          Real* gi = ws.gim.data() + p * gstride + std::size_t(k) * super_ + off;
          for (int b = 0; b < nb; ++b) {
            const Real orr = o[std::size_t(b) * lx_ + row][0];
            const Real oii = o[std::size_t(b) * lx_ + row][1];
            gr[b] = orr * ws.phr[b] - oii * ws.phi[b];
            gi[b] = orr * ws.phi[b] + oii * ws.phr[b];
          }
          if (has_nyq_col) {  // Re(G) Re(b): drop the imaginary part of G
            const int b = static_cast<int>(ny_ / 2 - v0);
            const Real orr = o[std::size_t(b) * lx_ + row][0];
            gr[b] = orr * ws.phr[b];
            gi[b] = orr * ws.phi[b];
          }
        }
      }
    }
    const int snb = static_cast<int>(send - sv0);
    for (std::size_t p = 0; p < starts.size(); ++p) {
      accumulate_patch(out + p * pstride,
                       n_,
                       ld_,
                       ws.gre.data() + p * gstride,
                       ws.gim.data() + p * gstride,
                       super_,
                       om_re_.data() + std::size_t(sv0) * ld_,
                       om_im_.data() + std::size_t(sv0) * ld_,
                       snb);
    }
  }
  for (std::size_t p = 0; p < starts.size(); ++p) {
    corner_correction(spectrum, starts[p], out + p * pstride, ws);
  }
}

template <class Real>
void UpsampledDft<Real>::patches_direct(const Complex* spectrum,
                                        std::span<const Start> starts,
                                        Real* out,
                                        Workspace& ws) const {
  const std::size_t pstride = std::size_t(n_) * ld_;
  const std::size_t ns = std::size_t(nx_) * ncols_;
  for (std::size_t i = 0; i < ns; ++i) {
    ws.sre[i] = spectrum[i][0];
    ws.sim[i] = spectrum[i][1];
  }
  const std::uint32_t half = nx_ / 2;
  for (std::size_t p = 0; p < starts.size(); ++p) {
    const Start& s = starts[p];
    for (int k = 0; k < n_; ++k) {
      for (std::uint32_t u = 0; u < nx_; ++u) {
        const long long t = pos_mod(fx_[u] * (s.jx0 + k), lx_);
        ws.are[std::size_t(k) * nx_ + u] = static_cast<Real>(twx_re_[t]);
        ws.aim[std::size_t(k) * nx_ + u] = static_cast<Real>(twx_im_[t]);
      }
      if (nyq_row_) ws.aim[std::size_t(k) * nx_ + half] = 0;  // ~a = cos on the Nyquist row
    }
    complex_gemm(n_,
                 static_cast<int>(nx_),
                 static_cast<int>(ncols_),
                 ws.are.data(),
                 ws.aim.data(),
                 ws.sre.data(),
                 ws.sim.data(),
                 ws.gre.data(),
                 ws.gim.data());
    column_phases(s.jy0, 0, static_cast<int>(ncols_), ws.phr.data(), ws.phi.data());
    for (int k = 0; k < n_; ++k) {
      Real* gr = ws.gre.data() + std::size_t(k) * ncols_;
      Real* gi = ws.gim.data() + std::size_t(k) * ncols_;
      // The Nyquist column of an even ny contributes Re(G) Re(b): keep only Re(G) there.
      if (nyq_col_) gi[ny_ / 2] = 0;
      for (std::uint32_t v = 0; v < ncols_; ++v) {
        const Real a = gr[v], b = gi[v];
        gr[v] = a * ws.phr[v] - b * ws.phi[v];
        gi[v] = a * ws.phi[v] + b * ws.phr[v];
      }
    }
    Real* P = out + p * pstride;
    accumulate_patch(P,
                     n_,
                     ld_,
                     ws.gre.data(),
                     ws.gim.data(),
                     static_cast<int>(ncols_),
                     om_re_.data(),
                     om_im_.data(),
                     static_cast<int>(ncols_));
    corner_correction(spectrum, s, P, ws);
  }
}

template <class Real>
void UpsampledDft<Real>::patches(const Complex* spectrum,
                                 std::span<const Start> starts,
                                 Real* out,
                                 Workspace& ws,
                                 MulticorrMethod method) const {
  std::fill(out, out + starts.size() * std::size_t(n_) * ld_, Real(0));
  if (starts.empty()) return;
  if (method == MulticorrMethod::kAuto) method = method_for(starts.size());
  if (method == MulticorrMethod::kDirect) {
    patches_direct(spectrum, starts, out, ws);
  } else {
    patches_fft(spectrum, starts, out, ws);
  }
}

template <class Real>
void UpsampledDft<Real>::patch(const Complex* spectrum,
                               double x,
                               double y,
                               std::vector<double>& out,
                               Workspace& ws,
                               MulticorrMethod method) const {
  const Start s = start_of(x, y);
  std::vector<Real> p(std::size_t(n_) * ld_);
  patches(spectrum, std::span<const Start>(&s, 1), p.data(), ws, method);
  out.resize(std::size_t(n_) * n_);
  for (int k = 0; k < n_; ++k) {
    for (int l = 0; l < n_; ++l) out[std::size_t(k) * n_ + l] = p[std::size_t(k) * ld_ + l];
  }
}

template <class Real>
void UpsampledDft<Real>::refine(const Complex* spectrum,
                                std::span<PeakRecord> peaks,
                                Workspace& ws) const {
  ws.starts.clear();
  for (const auto& pk : peaks) ws.starts.push_back(start_of(pk.x, pk.y));
  patches(spectrum, ws.starts, ws.patches.data(), ws, method_);
  const std::size_t pstride = std::size_t(n_) * ld_;
  for (std::size_t p = 0; p < peaks.size(); ++p) {
    const Real* P = ws.patches.data() + p * pstride;
    const auto at = [&](int i, int j) { return P[std::size_t(i) * ld_ + j]; };
    // argmax, first occurrence in C order (numpy's argmax).
    int a = 0, b = 0;
    for (int i = 0; i < n_; ++i) {
      for (int j = 0; j < n_; ++j) {
        if (at(i, j) > at(a, b)) {
          a = i;
          b = j;
        }
      }
    }
    double dx = 0, dy = 0;
    // py4DSTEM: an argmax on the patch border leaves the 3x3 neighbourhood incomplete; the
    // resulting IndexError is caught and both corrections are 0.
    if (a > 0 && a < n_ - 1 && b > 0 && b < n_ - 1) {
      const double c = at(a, b);
      const double xp = at(a + 1, b), xm = at(a - 1, b), yp = at(a, b + 1), ym = at(a, b - 1);
      dx = (xp - xm) / (4 * c - 2 * xp - 2 * xm);
      dy = (yp - ym) / (4 * c - 2 * yp - 2 * ym);
    }
    const Start& s = ws.starts[p];
    peaks[p].x = s.xs + ((double(a) - double(g_)) + dx) / us_;
    peaks[p].y = s.ys + ((double(b) - double(g_)) + dy) / us_;
  }
}

template class UpsampledDft<float>;
template class UpsampledDft<double>;

}  // namespace stemflow::ops
