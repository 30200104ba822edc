// SPDX-License-Identifier: GPL-3.0-or-later
// The CPU detector: py4DSTEM 0.14.18's per-pattern pipeline (_find_Bragg_disks_single and
// get_maxima_2D) reimplemented from its documented semantics (docs/py4dstem.md section 1.3):
//   pattern -> [sigma_dp smoothing] -> r2c FFT -> x conj(FFT(template)) -> [|m|^p e^{i arg m}]
//   -> c2r FFT -> clip at 0 -> Gaussian (sigma, reflect) -> local maxima (mixed >= / >) -> edge
//   band
//   -> sort (intensity, x, y descending) -> absolute / relative / spacing / count filters
//   -> pixel | poly | multicorr.
// Real-input FFTs (r2c/c2r) replace numpy's complex fft2: the spectra of real signals are
// Hermitian, so the half spectrum carries everything and real(ifft2(.)) is exactly the c2r output.
#include "operators/bragg_disks/bragg_disks_cpu.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "operators/bragg_disks/fftw_plan.hpp"
#include "operators/bragg_disks/multicorr_cpu.hpp"
#include "operators/bragg_disks/numpy_compat.hpp"
#include "operators/bragg_disks/simd_clones.hpp"

namespace stemflow::ops {
namespace {

// ---- hot loops (compiled per x86-64 level, see simd_clones.hpp)
// -----------------------------------

// Converts pixels to Real; returns false if any pixel is NaN or inf (only floats can be).
template <class P, class T>
[[gnu::always_inline]] inline bool convert_impl(const P* __restrict in,
                                                T* __restrict out,
                                                std::size_t n) {
  if constexpr (std::is_same_v<P, float>) {
    // Non-finite floats have an all-ones exponent; an integer OR-reduction vectorises.
    std::uint32_t bad = 0;
    for (std::size_t i = 0; i < n; ++i) {
      std::uint32_t bits;
      std::memcpy(&bits, in + i, sizeof bits);
      bad |= static_cast<std::uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
      out[i] = static_cast<T>(in[i]);
    }
    return bad == 0;
  } else {
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(in[i]);
    return true;
  }
}

#define STEMFLOW_CONVERT(P, T)                                                   \
  STEMFLOW_SIMD_CLONES bool convert_pixels(const P* in, T* out, std::size_t n) { \
    return convert_impl(in, out, n);                                             \
  }
STEMFLOW_CONVERT(std::uint8_t, float)
STEMFLOW_CONVERT(std::uint16_t, float)
STEMFLOW_CONVERT(std::uint32_t, float)
STEMFLOW_CONVERT(float, float)
STEMFLOW_CONVERT(std::uint8_t, double)
STEMFLOW_CONVERT(std::uint16_t, double)
STEMFLOW_CONVERT(std::uint32_t, double)
STEMFLOW_CONVERT(float, double)
#undef STEMFLOW_CONVERT

// spec[i] *= tmpl[i] (interleaved complex; written out so that no NaN-aware libgcc call is made).
template <class T>
[[gnu::always_inline]] inline void multiply_impl(T* __restrict spec,
                                                 const T* __restrict tmpl,
                                                 std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const T a = spec[2 * i], b = spec[2 * i + 1];
    const T c = tmpl[2 * i], d = tmpl[2 * i + 1];
    spec[2 * i] = a * c - b * d;
    spec[2 * i + 1] = a * d + b * c;
  }
}
STEMFLOW_SIMD_CLONES void multiply_spectrum(float* s, const float* t, std::size_t n) {
  multiply_impl(s, t, n);
}
STEMFLOW_SIMD_CLONES void multiply_spectrum(double* s, const double* t, std::size_t n) {
  multiply_impl(s, t, n);
}

template <class T>
[[gnu::always_inline]] inline void clip_impl(T* __restrict a, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) a[i] = a[i] > T(0) ? a[i] : T(0);
}
STEMFLOW_SIMD_CLONES void clip_negative(float* a, std::size_t n) { clip_impl(a, n); }
STEMFLOW_SIMD_CLONES void clip_negative(double* a, std::size_t n) { clip_impl(a, n); }

// scipy.ndimage.correlate1d with a symmetric kernel, along axis 0 (rows), mode 'reflect':
//   out = in[i] w0 + sum_{t=r..1} (in[i-t] + in[i+t]) w_t      (scipy's order of operations).
// rowmap[i + r + t] = reflect(i + t). Output rows [i0, i1) go to out (row i0 first). The partial
// sum of a vector of columns stays in a register across all taps; lo / hi (r + 1 entries each) hold
// the rows at -t / +t.
template <class T>
[[gnu::always_inline]] inline void gauss_rows_impl(const T* __restrict in,
                                                   T* __restrict out,
                                                   long i0,
                                                   long i1,
                                                   long cols,
                                                   const T* __restrict w,
                                                   int r,
                                                   const long* __restrict rowmap,
                                                   const T** lo,
                                                   const T** hi) {
  using S = Simd<T>;
  for (long i = i0; i < i1; ++i) {
    const T* c = in + i * cols;
    T* o = out + (i - i0) * cols;
    for (int t = 1; t <= r; ++t) {
      lo[t] = in + rowmap[i + r - t] * cols;
      hi[t] = in + rowmap[i + r + t] * cols;
    }
    long j = 0;
    for (; j + S::kLanes <= cols; j += S::kLanes) {
      typename S::V acc = S::load(c + j) * w[0];
#pragma GCC unroll 8
      for (int t = r; t >= 1; --t) acc += (S::load(lo[t] + j) + S::load(hi[t] + j)) * w[t];
      S::store(o + j, acc);
    }
    for (; j < cols; ++j) {
      T acc = c[j] * w[0];
      for (int t = r; t >= 1; --t) acc += (lo[t][j] + hi[t][j]) * w[t];
      o[j] = acc;
    }
  }
}

// The same along axis 1 (columns), through a reflect-padded copy of each row.
template <class T>
[[gnu::always_inline]] inline void gauss_cols_impl(const T* __restrict in,
                                                   T* __restrict out,
                                                   long rows,
                                                   long cols,
                                                   const T* __restrict w,
                                                   int r,
                                                   const long* __restrict colmap,
                                                   T* __restrict pad) {
  using S = Simd<T>;
  for (long i = 0; i < rows; ++i) {
    const T* c = in + i * cols;
    std::memcpy(pad + r, c, sizeof(T) * cols);
    for (long q = 0; q < r; ++q) {
      pad[q] = c[colmap[q]];
      pad[cols + r + q] = c[colmap[cols + r + q]];
    }
    T* o = out + i * cols;
    const T* p = pad + r;
    long j = 0;
    for (; j + S::kLanes <= cols; j += S::kLanes) {
      typename S::V acc = S::load(p + j) * w[0];
#pragma GCC unroll 8
      for (int t = r; t >= 1; --t) acc += (S::load(p + j - t) + S::load(p + j + t)) * w[t];
      S::store(o + j, acc);
    }
    for (; j < cols; ++j) {
      T acc = p[j] * w[0];
      for (int t = r; t >= 1; --t) acc += (p[j - t] + p[j + t]) * w[t];
      o[j] = acc;
    }
  }
}

STEMFLOW_SIMD_CLONES void gauss_rows(const float* in,
                                     float* out,
                                     long i0,
                                     long i1,
                                     long cols,
                                     const float* w,
                                     int r,
                                     const long* rowmap,
                                     const float** lo,
                                     const float** hi) {
  gauss_rows_impl(in, out, i0, i1, cols, w, r, rowmap, lo, hi);
}
STEMFLOW_SIMD_CLONES void gauss_rows(const double* in,
                                     double* out,
                                     long i0,
                                     long i1,
                                     long cols,
                                     const double* w,
                                     int r,
                                     const long* rowmap,
                                     const double** lo,
                                     const double** hi) {
  gauss_rows_impl(in, out, i0, i1, cols, w, r, rowmap, lo, hi);
}
STEMFLOW_SIMD_CLONES void gauss_cols(const float* in,
                                     float* out,
                                     long rows,
                                     long cols,
                                     const float* w,
                                     int r,
                                     const long* colmap,
                                     float* pad) {
  gauss_cols_impl(in, out, rows, cols, w, r, colmap, pad);
}
STEMFLOW_SIMD_CLONES void gauss_cols(const double* in,
                                     double* out,
                                     long rows,
                                     long cols,
                                     const double* w,
                                     int r,
                                     const long* colmap,
                                     double* pad) {
  gauss_cols_impl(in, out, rows, cols, w, r, colmap, pad);
}

// py4DSTEM's local-maximum test for pixels [j0, j1) of row c (up = row above, dn = row below):
// >= against the neighbours below/right (and below-right, above-right), > against the others.
// mask[j] != 0 for a maximum. The mask has the pixels' width so that the loop vectorises.
template <class T, class MaskT>
[[gnu::always_inline]] inline void maxima_row_impl(const T* __restrict up,
                                                   const T* __restrict c,
                                                   const T* __restrict dn,
                                                   long j0,
                                                   long j1,
                                                   MaskT* __restrict mask) {
  for (long j = j0; j < j1; ++j) {
    const T v = c[j];
    const bool m = (v >= dn[j]) & (v > up[j]) & (v >= c[j + 1]) & (v > c[j - 1]) &
                   (v >= dn[j + 1]) & (v > dn[j - 1]) & (v >= up[j + 1]) & (v > up[j - 1]);
    mask[j] = m ? MaskT(-1) : MaskT(0);
  }
}
STEMFLOW_SIMD_CLONES void maxima_row(
    const float* up, const float* c, const float* dn, long j0, long j1, std::int32_t* mask) {
  maxima_row_impl(up, c, dn, j0, j1, mask);
}
STEMFLOW_SIMD_CLONES void maxima_row(
    const double* up, const double* c, const double* dn, long j0, long j1, std::int64_t* mask) {
  maxima_row_impl(up, c, dn, j0, j1, mask);
}

// The hybrid correlation: numpy's |m|^p exp(i angle(m)), written as m |m|^(p-1) = m
// (|m|^2)^((p-1)/2) (one pow per element, in Real), then numpy's 1/N of ifft2. |m| = 0 gives 0^p (1
// for p = 0, as numpy's 0**0) times exp(i angle(0)) = 1.
template <class T>
void power_spectrum(T* s, std::size_t n, double p, double inv_n) {
  const T scale = static_cast<T>(inv_n);
  const T at_zero = static_cast<T>(std::pow(0.0, p) * inv_n);
  if (p == 0) {  // phase correlation: m / |m|
    for (std::size_t i = 0; i < n; ++i) {
      const T re = s[2 * i], im = s[2 * i + 1];
      const T m2 = re * re + im * im;
      const T f = m2 > 0 ? scale / std::sqrt(m2) : T(0);
      s[2 * i] = m2 > 0 ? re * f : at_zero;
      s[2 * i + 1] = im * f;
    }
    return;
  }
  const T e = static_cast<T>((p - 1) / 2);
  for (std::size_t i = 0; i < n; ++i) {
    const T re = s[2 * i], im = s[2 * i + 1];
    const T m2 = re * re + im * im;
    const T f = m2 > 0 ? std::pow(m2, e) * scale : T(0);
    s[2 * i] = m2 > 0 ? re * f : at_zero;
    s[2 * i + 1] = im * f;
  }
}

unsigned planner_flags(FftPlanner p) {
  switch (p) {
    case FftPlanner::kPatient:
      return FFTW_PATIENT;
    case FftPlanner::kEstimate:
      return FFTW_ESTIMATE;
    case FftPlanner::kMeasure:
      break;
  }
  return FFTW_MEASURE;
}

// ---- peak bookkeeping ---------------------------------------------------------------------------

struct Cand {
  double intensity;
  std::int32_t x;
  std::int32_t y;
};

// numpy: np.sort(maxima, order="intensity")[::-1] with fields (x, y, intensity): the remaining
// fields break ties in dtype order, and the reversal makes all three descending.
inline bool cand_before(const Cand& a, const Cand& b) {
  if (a.intensity != b.intensity) return a.intensity > b.intensity;
  if (a.x != b.x) return a.x > b.x;
  return a.y > b.y;
}

inline bool record_before(const PeakRecord& a, const PeakRecord& b) {
  if (a.intensity != b.intensity) return a.intensity > b.intensity;
  if (a.x != b.x) return a.x > b.x;
  return a.y > b.y;
}

// filter_2D_maxima on the (unsorted) candidates: absolute, relative (to the relative_to_peak-th
// brightest), then spacing and count in sorted order. Only as much of the list is sorted as the
// spacing walk consumes: it stops once max_num_peaks peaks are kept, and a peak can only be removed
// by an earlier kept one, so the kept list equals py4DSTEM's walk over the fully sorted array.
void select_peaks(std::vector<Cand>& c, const BraggDisksParams& p, std::vector<PeakRecord>& kept) {
  kept.clear();
  if (p.min_absolute_intensity > 0) {
    const double lim = p.min_absolute_intensity;
    std::erase_if(c, [lim](const Cand& a) { return a.intensity < lim; });
  }
  const std::size_t rtp = static_cast<std::size_t>(p.relative_to_peak);
  if (p.min_relative_intensity > 0 && c.size() > rtp) {
    std::nth_element(
        c.begin(), c.begin() + static_cast<long>(rtp), c.end(), [](const Cand& a, const Cand& b) {
          return a.intensity > b.intensity;
        });
    const double ref = c[rtp].intensity;
    const double lim = p.min_relative_intensity;
    std::erase_if(c, [ref, lim](const Cand& a) { return a.intensity / ref < lim; });
  }
  const std::size_t n = c.size();
  const std::size_t max_keep = static_cast<std::size_t>(p.max_num_peaks);
  const bool spacing = p.min_peak_spacing > 0;
  const double s2 = p.min_peak_spacing * p.min_peak_spacing;
  std::size_t sorted = 0;
  for (std::size_t i = 0; i < n && kept.size() < max_keep; ++i) {
    if (i == sorted) {
      const std::size_t chunk = std::max<std::size_t>(64, 4 * max_keep);
      const std::size_t next = std::min(n, sorted + std::max(chunk, sorted));
      if (next < n) {
        std::nth_element(c.begin() + static_cast<long>(sorted),
                         c.begin() + static_cast<long>(next),
                         c.end(),
                         cand_before);
      }
      std::sort(
          c.begin() + static_cast<long>(sorted), c.begin() + static_cast<long>(next), cand_before);
      sorted = next;
    }
    const double x = c[i].x, y = c[i].y;
    bool too_close = false;
    if (spacing) {
      for (const auto& k : kept) {
        const double dx = x - k.x, dy = y - k.y;
        if (dx * dx + dy * dy < s2) {
          too_close = true;
          break;
        }
      }
    }
    if (!too_close) kept.push_back({x, y, c[i].intensity});
  }
}

// ---- the detector
// ---------------------------------------------------------------------------------

template <class Real>
struct Work final : DetectorWorkspace {
  using Complex = typename fft::Api<Real>::Complex;
  fft::Buffer<Real, Real> in;       // the pattern as Real, rows x cols
  fft::Buffer<Complex, Real> spec;  // r2c output, rows x (cols/2+1)
  fft::Buffer<Real, Real> cc;       // c2r output
  fft::Buffer<Complex, Real> keep;  // multicorr spectrum (half, or full in no-template mode)
  fft::Plan<Real> r2c, c2r;
  std::vector<Real> sm, tmp, pad;
  std::vector<const Real*> taps_lo, taps_hi;  // gauss_rows' row pointers
  std::vector<const double*> dtaps_lo, dtaps_hi;
  std::vector<double> dp, dp_tmp, dp_pad;  // sigma_dp smoothing, in float64 like scipy
  // maxima_row's output: one integer of the pixel's width per pixel of a row
  std::vector<std::conditional_t<std::is_same_v<Real, float>, std::int32_t, std::int64_t>> mask;
  std::vector<Cand> cands;
  std::vector<PeakRecord> peaks;
  std::unique_ptr<typename UpsampledDft<Real>::Workspace> mc;
};

}  // namespace

struct BraggDiskDetector::ImplBase {
  virtual ~ImplBase() = default;
  virtual std::unique_ptr<DetectorWorkspace> make_workspace() const = 0;
  virtual Expected<std::uint32_t> detect(const std::byte* frame,
                                         Dtype dtype,
                                         DetectorWorkspace& ws,
                                         std::span<Peak> out,
                                         DetectorStages* stages) const = 0;
};

namespace {

// Rows per strip of the fused Gaussian passes.
constexpr long kGaussStrip = 8;

template <class Real>
class DetectorImpl final : public BraggDiskDetector::ImplBase {
 public:
  using Api = fft::Api<Real>;
  using Complex = typename Api::Complex;

  DetectorImpl(const BraggDisksParams& p,
               const ProbeKernel& kernel,
               std::uint32_t rows,
               std::uint32_t cols)
      : p_(p),
        rows_(rows),
        cols_(cols),
        half_(cols / 2 + 1),
        npx_(std::size_t{rows} * cols),
        nspec_(std::size_t{rows} * (cols / 2 + 1)) {
    // py4DSTEM without a template: cc = the pattern, then still ifft2 (see README); the corrected
    // mode correlates with a delta, which is what a "no template" user means.
    compat_no_template_ = kernel.empty() && p_.no_template_applies_ifft;
    build_template_spectrum(kernel);
    gauss_w_d_ = npc::gaussian_weights(p_.sigma);
    gauss_w_.assign(gauss_w_d_.begin(), gauss_w_d_.end());
    gauss_r_ = gauss_w_.empty() ? 0 : static_cast<int>(gauss_w_.size()) - 1;
    make_maps(gauss_r_, rowmap_, colmap_);
    if (p_.sigma_dp > 0 && !compat_no_template_) {
      dp_w_ = npc::gaussian_weights(p_.sigma_dp);
      dp_r_ = static_cast<int>(dp_w_.size()) - 1;
      make_maps(dp_r_, dp_rowmap_, dp_colmap_);
    }
    eb_ = std::max(p_.edge_boundary, 1);
    if (p_.subpixel == Subpixel::kMulticorr) {
      mc_ = std::make_unique<UpsampledDft<Real>>(rows_,
                                                 cols_,
                                                 p_.upsample_factor,
                                                 !compat_no_template_,
                                                 static_cast<std::uint32_t>(p_.max_num_peaks),
                                                 p_.multicorr_method,
                                                 planner_flags(p_.fft_planner));
    }
  }

  std::unique_ptr<DetectorWorkspace> make_workspace() const override {
    auto w = std::make_unique<Work<Real>>();
    w->in = fft::Buffer<Real, Real>(npx_);
    w->spec = fft::Buffer<Complex, Real>(nspec_);
    w->cc = fft::Buffer<Real, Real>(npx_);
    const int r = static_cast<int>(rows_), c = static_cast<int>(cols_);
    const unsigned flags = planner_flags(p_.fft_planner);
    w->r2c =
        fft::Plan<Real>([&] { return Api::r2c_2d(r, c, w->in.data(), w->spec.data(), flags); });
    w->c2r =
        fft::Plan<Real>([&] { return Api::c2r_2d(r, c, w->spec.data(), w->cc.data(), flags); });
    if (mc_) {
      w->keep = fft::Buffer<Complex, Real>(compat_no_template_ ? npx_ : nspec_);
      w->mc = mc_->make_workspace();
    }
    w->sm.resize(npx_);
    w->tmp.resize(std::size_t(kGaussStrip) * cols_);
    w->pad.resize(cols_ + 2 * std::size_t(gauss_r_) + 2);
    w->taps_lo.resize(gauss_r_ + 1);
    w->taps_hi.resize(gauss_r_ + 1);
    if (!dp_w_.empty()) {
      w->dp.resize(npx_);
      w->dp_tmp.resize(npx_);
      w->dp_pad.resize(cols_ + 2 * std::size_t(dp_r_) + 2);
      w->dtaps_lo.resize(dp_r_ + 1);
      w->dtaps_hi.resize(dp_r_ + 1);
    }
    w->mask.resize(cols_);
    // Local maxima are 8-isolated under the mixed >= / > test, so at most ceil(n/2)^2 per frame.
    w->cands.reserve(std::size_t((rows_ + 1) / 2) * ((cols_ + 1) / 2));
    w->peaks.reserve(p_.max_num_peaks);
    return w;
  }

  Expected<std::uint32_t> detect(const std::byte* frame,
                                 Dtype dtype,
                                 DetectorWorkspace& wsb,
                                 std::span<Peak> out,
                                 DetectorStages* stages) const override {
    auto& w = static_cast<Work<Real>&>(wsb);
    if (!load(frame, dtype, w)) {
      return make_error("non_finite", "frame contains NaN or inf pixels");
    }
    correlate(w);
    const Real* cc = w.cc.data();
    clip_negative(w.cc.data(), npx_);
    const Real* ar = cc;
    if (gauss_r_ > 0) {
      // scipy's two passes (axis 0, then axis 1), fused in strips of rows so that the intermediate
      // strip stays in L1 instead of travelling through memory.
      for (long i0 = 0; i0 < long(rows_); i0 += kGaussStrip) {
        const long i1 = std::min<long>(rows_, i0 + kGaussStrip);
        gauss_rows(cc,
                   w.tmp.data(),
                   i0,
                   i1,
                   cols_,
                   gauss_w_.data(),
                   gauss_r_,
                   rowmap_.data(),
                   w.taps_lo.data(),
                   w.taps_hi.data());
        gauss_cols(w.tmp.data(),
                   w.sm.data() + i0 * long(cols_),
                   i1 - i0,
                   cols_,
                   gauss_w_.data(),
                   gauss_r_,
                   colmap_.data(),
                   w.pad.data());
      }
      ar = w.sm.data();
    }
    if (stages) {
      stages->cc.assign(cc, cc + npx_);
      stages->cc_smoothed.assign(ar, ar + npx_);
    }
    collect_maxima(ar, w);
    select_peaks(w.cands, p_, w.peaks);
    if (p_.subpixel != Subpixel::kPixel) poly(ar, w.peaks);
    if (p_.subpixel == Subpixel::kMulticorr && !w.peaks.empty()) {
      mc_->refine(w.keep.data(), w.peaks, *w.mc);
      std::sort(w.peaks.begin(), w.peaks.end(), record_before);
    }
    const std::size_t n = std::min(w.peaks.size(), out.size());
    for (std::size_t i = 0; i < n; ++i)
      out[i] = Peak{w.peaks[i].x, w.peaks[i].y, w.peaks[i].intensity};
    return static_cast<std::uint32_t>(n);
  }

 private:
  static void make_maps(
      int r, std::vector<long>& rowmap, std::vector<long>& colmap, long rows, long cols) {
    rowmap.resize(rows + 2 * r);
    colmap.resize(cols + 2 * r);
    for (long i = 0; i < rows + 2 * r; ++i) rowmap[i] = npc::reflect_index(i - r, rows);
    for (long j = 0; j < cols + 2 * r; ++j) colmap[j] = npc::reflect_index(j - r, cols);
  }
  void make_maps(int r, std::vector<long>& rowmap, std::vector<long>& colmap) const {
    make_maps(r, rowmap, colmap, rows_, cols_);
  }

  // conj(fft2(template)) in float64 (as py4DSTEM), with numpy's 1/N of ifft2 folded in when the
  // correlation is linear (corr_power 1). A missing template in corrected mode is a delta (T = 1).
  void build_template_spectrum(const ProbeKernel& kernel) {
    tmpl_.assign(2 * nspec_, Real(0));
    if (compat_no_template_) return;
    std::vector<double> t(2 * nspec_, 0.0);
    if (kernel.empty()) {
      for (std::size_t i = 0; i < nspec_; ++i) t[2 * i] = 1.0;
    } else {
      using Api64 = fft::Api<double>;
      fft::Buffer<double, double> in(npx_);
      fft::Buffer<fftw_complex, double> sp(nspec_);
      // Planned like the workspaces' plans: an FFTW_ESTIMATE plan would follow whatever wisdom
      // exists, so the first detector of a process would round differently from later ones.
      fft::Plan<double> plan([&] {
        return Api64::r2c_2d(
            int(rows_), int(cols_), in.data(), sp.data(), planner_flags(p_.fft_planner));
      });
      std::copy(kernel.values.begin(), kernel.values.end(), in.data());
      plan.execute();
      for (std::size_t i = 0; i < nspec_; ++i) {
        t[2 * i] = sp[i][0];
        t[2 * i + 1] = -sp[i][1];
      }
    }
    linear_ = p_.corr_power == 1.0;
    const double scale = linear_ ? 1.0 / double(npx_) : 1.0;
    for (std::size_t i = 0; i < 2 * nspec_; ++i) tmpl_[i] = static_cast<Real>(t[i] * scale);
  }

  // The pattern as Real in w.in (after sigma_dp smoothing when enabled); false if not finite.
  bool load(const std::byte* frame, Dtype dtype, Work<Real>& w) const {
    bool ok = true;
    if (dp_w_.empty()) {
      visit_dtype(dtype, [&]<class PixelT>() {
        ok = convert_pixels(reinterpret_cast<const PixelT*>(frame), w.in.data(), npx_);
      });
      return ok;
    }
    // scipy.ndimage.gaussian_filter(DP, sigma_dp): float64 arithmetic, and by default each 1-D pass
    // is stored in the input dtype (integers truncated, float32 rounded).
    visit_dtype(dtype, [&]<class PixelT>() {
      ok = convert_pixels(reinterpret_cast<const PixelT*>(frame), w.dp.data(), npx_);
      if (!ok) return;
      const auto store = [&](std::vector<double>& a) {
        if (!p_.sigma_dp_in_input_dtype) return;
        for (auto& v : a) {
          if constexpr (std::is_same_v<PixelT, float>) {
            v = static_cast<double>(static_cast<float>(v));
          } else {
            v = std::trunc(v);
          }
        }
      };
      gauss_rows(w.dp.data(),
                 w.dp_tmp.data(),
                 0,
                 rows_,
                 cols_,
                 dp_w_.data(),
                 dp_r_,
                 dp_rowmap_.data(),
                 w.dtaps_lo.data(),
                 w.dtaps_hi.data());
      store(w.dp_tmp);
      gauss_cols(w.dp_tmp.data(),
                 w.dp.data(),
                 rows_,
                 cols_,
                 dp_w_.data(),
                 dp_r_,
                 dp_colmap_.data(),
                 w.dp_pad.data());
      store(w.dp);
    });
    if (ok) {
      for (std::size_t i = 0; i < npx_; ++i) w.in[i] = static_cast<Real>(w.dp[i]);
    }
    return ok;
  }

  // w.cc = real(ifft2(ccF)) (unclipped); w.keep = ccF for multicorr.
  void correlate(Work<Real>& w) const {
    w.r2c.execute();
    Real* s = reinterpret_cast<Real*>(w.spec.data());
    if (compat_no_template_) {
      // py4DSTEM: cc = DP; ar = real(ifft2(DP)) = Re(fft2(DP)) / N for a real DP (cos is even);
      // multicorr receives DP itself as its "spectrum".
      const double inv = 1.0 / double(npx_);
      for (std::uint32_t u = 0; u < rows_; ++u) {
        for (std::uint32_t v = 0; v < cols_; ++v) {
          const std::size_t k = v < half_ ? std::size_t(u) * half_ + v
                                          : std::size_t((rows_ - u) % rows_) * half_ + (cols_ - v);
          w.cc[std::size_t(u) * cols_ + v] = static_cast<Real>(s[2 * k] * inv);
        }
      }
      if (mc_) {
        for (std::size_t i = 0; i < npx_; ++i) {
          w.keep[i][0] = w.in[i];
          w.keep[i][1] = 0;
        }
      }
      return;
    }
    multiply_spectrum(s, tmpl_.data(), nspec_);
    if (!linear_) power_spectrum(s, nspec_, p_.corr_power, 1.0 / double(npx_));
    if (mc_) std::memcpy(static_cast<void*>(w.keep.data()), s, nspec_ * sizeof(Complex));
    w.c2r.execute();  // destroys w.spec
  }

  void collect_maxima(const Real* ar, Work<Real>& w) const {
    w.cands.clear();
    const long r0 = eb_, r1 = long(rows_) - eb_;
    const long c0 = eb_, c1 = long(cols_) - eb_;
    if (r0 >= r1 || c0 >= c1) return;
    auto* mask = w.mask.data();
    for (long i = r0; i < r1; ++i) {
      const Real* c = ar + i * long(cols_);
      maxima_row(c - cols_, c, c + cols_, c0, c1, mask);
      constexpr long kSkip = 32 / long(sizeof(*mask));  // pixels whose mask fills 32 bytes
      for (long j = c0; j < c1; ++j) {
        if ((j - c0) % kSkip == 0 && j + kSkip <= c1) {  // maxima are sparse: skip empty runs
          std::uint64_t words[4];
          std::memcpy(words, mask + j, sizeof words);
          if ((words[0] | words[1] | words[2] | words[3]) == 0) {
            j += kSkip - 1;
            continue;
          }
        }
        if (mask[j]) {
          w.cands.push_back({static_cast<double>(c[j]),
                             static_cast<std::int32_t>(i),
                             static_cast<std::int32_t>(j)});
        }
      }
    }
  }

  // Parabola in each axis through the pixel maximum and its neighbours, intensity = bilinear
  // interpolation of the smoothed correlation at the refined position (py4DSTEM's order of terms).
  void poly(const Real* ar, std::vector<PeakRecord>& peaks) const {
    const long nc = cols_;
    const auto at = [&](long i, long j) { return static_cast<double>(ar[i * nc + j]); };
    for (auto& pk : peaks) {
      const long x = static_cast<long>(pk.x), y = static_cast<long>(pk.y);
      const double ix1_ = at(x - 1, y), ix0 = at(x, y), ix1 = at(x + 1, y);
      const double iy1_ = at(x, y - 1), iy0 = at(x, y), iy1 = at(x, y + 1);
      const double dx = (ix1 - ix1_) / (4 * ix0 - 2 * ix1 - 2 * ix1_);
      const double dy = (iy1 - iy1_) / (4 * iy0 - 2 * iy1 - 2 * iy1_);
      const double nx = pk.x + dx, ny = pk.y + dy;
      // For finite data the local-maximum test bounds |dx|, |dy| by 1/2, so the four pixels exist;
      // the guard only keeps an impossible case from reading outside the frame.
      const double fx0 = std::floor(nx), fx1 = std::ceil(nx);
      const double fy0 = std::floor(ny), fy1 = std::ceil(ny);
      if (!(fx0 >= 0 && fx1 < rows_ && fy0 >= 0 && fy1 < cols_)) continue;
      pk.x = nx;
      pk.y = ny;
      const long x0 = long(fx0), x1 = long(fx1), y0 = long(fy0), y1 = long(fy1);
      const double ddx = nx - double(x0), ddy = ny - double(y0);
      pk.intensity = (1 - ddx) * (1 - ddy) * at(x0, y0) + (1 - ddx) * ddy * at(x0, y1) +
                     ddx * (1 - ddy) * at(x1, y0) + ddx * ddy * at(x1, y1);
    }
  }

  BraggDisksParams p_;
  std::uint32_t rows_, cols_, half_;
  std::size_t npx_, nspec_;
  bool compat_no_template_ = false;
  bool linear_ = true;
  std::vector<Real> tmpl_;  // interleaved complex, rows x half
  std::vector<double> gauss_w_d_;
  std::vector<Real> gauss_w_;
  int gauss_r_ = 0;
  std::vector<long> rowmap_, colmap_;
  std::vector<double> dp_w_;
  int dp_r_ = 0;
  std::vector<long> dp_rowmap_, dp_colmap_;
  long eb_ = 1;
  std::unique_ptr<UpsampledDft<Real>> mc_;
};

}  // namespace

BraggDiskDetector::BraggDiskDetector(const BraggDisksParams& params,
                                     const ProbeKernel& kernel,
                                     std::uint32_t rows,
                                     std::uint32_t cols)
    : params_(params), rows_(rows), cols_(cols) {
  validate(params_);
  if (rows < 3 || cols < 3) {
    throw ConfigError("bragg_disks: frames must be at least 3 x 3 pixels, got " +
                      std::to_string(rows) + " x " + std::to_string(cols));
  }
  if (!kernel.empty()) {
    if (kernel.rows != rows || kernel.cols != cols) {
      throw ConfigError("bragg_disks: template shape " + std::to_string(kernel.rows) + " x " +
                        std::to_string(kernel.cols) + " differs from the frame shape " +
                        std::to_string(rows) + " x " + std::to_string(cols));
    }
    if (kernel.values.size() != std::size_t{rows} * cols) {
      throw ConfigError("bragg_disks: template has " + std::to_string(kernel.values.size()) +
                        " values, expected rows x cols");
    }
  }
  if (params_.precision == Precision::kF64) {
    impl_ = std::make_unique<DetectorImpl<double>>(params_, kernel, rows, cols);
  } else {
    impl_ = std::make_unique<DetectorImpl<float>>(params_, kernel, rows, cols);
  }
}

BraggDiskDetector::~BraggDiskDetector() = default;

std::unique_ptr<DetectorWorkspace> BraggDiskDetector::make_workspace() const {
  return impl_->make_workspace();
}

Expected<std::uint32_t> BraggDiskDetector::detect(const std::byte* frame,
                                                  Dtype dtype,
                                                  DetectorWorkspace& ws,
                                                  std::span<Peak> out,
                                                  DetectorStages* stages) const {
  return impl_->detect(frame, dtype, ws, out, stages);
}

}  // namespace stemflow::ops
