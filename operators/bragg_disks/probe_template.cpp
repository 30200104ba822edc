// SPDX-License-Identifier: GPL-3.0-or-later
// Probe template, reimplemented from the documented semantics of py4DSTEM 0.14.18
// (braggvectors/probe.py, process/calibration/probe.py) and scipy.ndimage. Start-up code: clarity
// over speed, double precision throughout, numpy's summation order where sums normalise results.
#include "operators/bragg_disks/probe_template.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <numbers>
#include <string>

#include "operators/bragg_disks/fftw_plan.hpp"
#include "operators/bragg_disks/numpy_compat.hpp"
#include "pipeline/core/expected.hpp"

namespace stemflow::ops {
namespace {

using Mask = std::vector<std::uint8_t>;

void require(bool ok, const std::string& msg) {
  if (!ok) throw ConfigError(msg);
}

// scipy binary_erosion / binary_dilation with the default cross structure and border_value 0.
Mask erode_cross(const Mask& in, long rows, long cols) {
  Mask out(in.size(), 0);
  for (long i = 0; i < rows; ++i) {
    for (long j = 0; j < cols; ++j) {
      const auto at = [&](long a, long b) -> bool {
        return a >= 0 && a < rows && b >= 0 && b < cols && in[a * cols + b];
      };
      out[i * cols + j] = at(i, j) && at(i - 1, j) && at(i + 1, j) && at(i, j - 1) && at(i, j + 1);
    }
  }
  return out;
}

Mask dilate_cross(const Mask& in, long rows, long cols) {
  Mask out(in.size(), 0);
  for (long i = 0; i < rows; ++i) {
    for (long j = 0; j < cols; ++j) {
      const auto at = [&](long a, long b) -> bool {
        return a >= 0 && a < rows && b >= 0 && b < cols && in[a * cols + b];
      };
      out[i * cols + j] = at(i, j) || at(i - 1, j) || at(i + 1, j) || at(i, j - 1) || at(i, j + 1);
    }
  }
  return out;
}

// 1-D lower envelope of parabolas (Felzenszwalb & Huttenlocher): exact squared Euclidean distance.
// Infinite samples (no zero pixel) cannot be minimisers and are skipped.
void edt_1d(const double* f, double* d, long n, std::vector<long>& v, std::vector<double>& z) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  long k = -1;
  for (long q = 0; q < n; ++q) {
    if (f[q] == kInf) continue;
    double s = 0;
    while (k >= 0) {
      const long p = v[k];
      s = ((f[q] + double(q) * double(q)) - (f[p] + double(p) * double(p))) / (2.0 * double(q - p));
      if (s <= z[k]) {
        --k;
      } else {
        break;
      }
    }
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = -kInf;
    } else {
      ++k;
      v[k] = q;
      z[k] = s;
    }
    z[k + 1] = kInf;
  }
  if (k < 0) {
    for (long q = 0; q < n; ++q) d[q] = kInf;
    return;
  }
  k = 0;
  for (long q = 0; q < n; ++q) {
    while (z[k + 1] < double(q)) ++k;
    const double dq = double(q - v[k]);
    d[q] = dq * dq + f[v[k]];
  }
}

// scipy distance_transform_edt(input): distance of each non-zero pixel to the nearest zero pixel.
std::vector<double> distance_transform_edt(const Mask& nonzero, long rows, long cols) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> g(nonzero.size());
  for (std::size_t i = 0; i < g.size(); ++i) g[i] = nonzero[i] ? kInf : 0.0;
  const long n = std::max(rows, cols);
  std::vector<double> f(n), d(n), z(n + 1);
  std::vector<long> v(n);
  for (long j = 0; j < cols; ++j) {  // along axis 0
    for (long i = 0; i < rows; ++i) f[i] = g[i * cols + j];
    edt_1d(f.data(), d.data(), rows, v, z);
    for (long i = 0; i < rows; ++i) g[i * cols + j] = d[i];
  }
  for (long i = 0; i < rows; ++i) {  // along axis 1
    edt_1d(g.data() + i * cols, d.data(), cols, v, z);
    for (long j = 0; j < cols; ++j) g[i * cols + j] = std::sqrt(d[j]);
  }
  return g;
}

// np.roll(ar, (sx, sy), axis=(0, 1)): out[i, j] = ar[i - sx, j - sy] (periodic).
double rolled(
    const std::vector<double>& a, long rows, long cols, long i, long j, long sx, long sy) {
  long a0 = (i - sx) % rows;
  if (a0 < 0) a0 += rows;
  long a1 = (j - sy) % cols;
  if (a1 < 0) a1 += cols;
  return a[a0 * cols + a1];
}

// py4DSTEM get_shifted_ar(ar, xshift, yshift, periodic=True, bilinear).
std::vector<double> shifted(const std::vector<double>& ar,
                            long rows,
                            long cols,
                            double xshift,
                            double yshift,
                            bool bilinear) {
  std::vector<double> out(ar.size());
  if (bilinear) {
    const long xf = static_cast<long>(std::floor(xshift));
    const long yf = static_cast<long>(std::floor(yshift));
    const double wx = xshift - double(xf);
    const double wy = yshift - double(yf);
    const double w00 = (1 - wx) * (1 - wy), w10 = wx * (1 - wy), w01 = (1 - wx) * wy, w11 = wx * wy;
    for (long i = 0; i < rows; ++i) {
      for (long j = 0; j < cols; ++j) {
        out[i * cols + j] = rolled(ar, rows, cols, i, j, xf, yf) * w00 +
                            rolled(ar, rows, cols, i, j, xf + 1, yf) * w10 +
                            rolled(ar, rows, cols, i, j, xf, yf + 1) * w01 +
                            rolled(ar, rows, cols, i, j, xf + 1, yf + 1) * w11;
      }
    }
    return out;
  }
  // Fourier shift theorem: real(ifft2(fft2(ar) * exp(-2 pi i (yshift qy + xshift qx)))), with
  // qx, qy = np.fft.fftfreq (the Nyquist bin at -1/2 for even sizes, so the result is not real and
  // the real part is taken, as numpy does).
  using Api = fft::Api<double>;
  const std::size_t n = ar.size();
  fft::Buffer<fftw_complex, double> buf(n);
  fft::Plan<double> fwd([&] {
    return Api::c2c_2d(int(rows), int(cols), buf.data(), buf.data(), FFTW_FORWARD, FFTW_ESTIMATE);
  });
  fft::Plan<double> bwd([&] {
    return Api::c2c_2d(int(rows), int(cols), buf.data(), buf.data(), FFTW_BACKWARD, FFTW_ESTIMATE);
  });
  for (std::size_t i = 0; i < n; ++i) {
    buf[i][0] = ar[i];
    buf[i][1] = 0.0;
  }
  fwd.execute();
  const auto fftfreq = [](long k, long m) {
    const long f = k < (m + 1) / 2 ? k : k - m;
    return double(f) * (1.0 / double(m));
  };
  for (long i = 0; i < rows; ++i) {
    const double qx = fftfreq(i, rows);
    for (long j = 0; j < cols; ++j) {
      const double qy = fftfreq(j, cols);
      const double ph = -(2.0 * std::numbers::pi) * ((yshift * qy) + (xshift * qx));
      const std::complex<double> w(std::cos(ph), std::sin(ph));
      const std::complex<double> v(buf[i * cols + j][0], buf[i * cols + j][1]);
      const std::complex<double> r = v * w;
      buf[i * cols + j][0] = r.real();
      buf[i * cols + j][1] = r.imag();
    }
  }
  bwd.execute();
  const double inv = 1.0 / double(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = buf[i][0] * inv;
  return out;
}

// The wrapped integer coordinates py4DSTEM's kernels use: np.mod(arange(N) + N//2, N) - N//2.
long wrapped(long k, long n) { return ((k + n / 2) % n) - n / 2; }

}  // namespace

void validate(const ProbeParams& p) {
  require(std::isfinite(p.threshold) && p.threshold >= 0 && p.threshold < 1,
          "probe.threshold must be in [0, 1)");
  require(p.opening >= 0, "probe.opening must be >= 0");
  require(std::isfinite(p.expansion) && p.expansion > 0, "probe.expansion must be > 0");
  require(std::isfinite(p.size_thresh_lower) && std::isfinite(p.size_thresh_upper) &&
              p.size_thresh_lower >= 0 && p.size_thresh_lower < p.size_thresh_upper &&
              p.size_thresh_upper <= 1,
          "probe.size_thresh_lower/upper must satisfy 0 <= lower < upper <= 1");
  require(p.size_thresh_count >= 3, "probe.size_thresh_count must be >= 3");
  if (p.origin) {
    require(std::isfinite((*p.origin)[0]) && std::isfinite((*p.origin)[1]),
            "probe.origin must be finite");
  }
  if (p.radii) {
    require(std::isfinite((*p.radii)[0]) && std::isfinite((*p.radii)[1]) && (*p.radii)[0] >= 0 &&
                (*p.radii)[1] > (*p.radii)[0],
            "probe.radii must satisfy 0 <= inner < outer");
  }
  if (p.mode == KernelMode::kGaussian) {
    require(p.gaussian_sigma.has_value(), "probe.gaussian_sigma is required for mode 'gaussian'");
    require(std::isfinite(*p.gaussian_sigma) && *p.gaussian_sigma > 0,
            "probe.gaussian_sigma must be > 0");
  }
}

std::optional<KernelMode> parse_kernel_mode(std::string_view s) {
  if (s == "flat") return KernelMode::kFlat;
  if (s == "gaussian") return KernelMode::kGaussian;
  if (s == "sigmoid") return KernelMode::kSigmoid;
  if (s == "sigmoid_log") return KernelMode::kSigmoidLog;
  if (s == "sigmoid_logistic") return KernelMode::kSigmoidLogistic;
  return std::nullopt;
}

std::vector<double> average_frames(const std::byte* frames,
                                   Dtype dtype,
                                   std::size_t n_frames,
                                   std::uint32_t rows,
                                   std::uint32_t cols) {
  require(n_frames > 0, "probe: no vacuum frames to average");
  const std::size_t n = std::size_t{rows} * cols;
  std::vector<double> sum(n, 0.0);
  visit_dtype(dtype, [&]<class PixelT>() {
    const auto* px = reinterpret_cast<const PixelT*>(frames);
    for (std::size_t f = 0; f < n_frames; ++f) {
      for (std::size_t i = 0; i < n; ++i) sum[i] += static_cast<double>(px[f * n + i]);
    }
  });
  for (auto& v : sum) v /= static_cast<double>(n_frames);
  return sum;
}

std::vector<double> probe_from_vacuum(const std::vector<double>& vacuum_mean,
                                      std::uint32_t rows,
                                      std::uint32_t cols,
                                      double threshold,
                                      double expansion,
                                      int opening) {
  const long r = rows, c = cols;
  require(vacuum_mean.size() == std::size_t(r * c) && r > 0 && c > 0,
          "probe: vacuum image size does not match rows x cols");
  for (double v : vacuum_mean) require(std::isfinite(v), "probe: vacuum image is not finite");
  const double vmax = *std::max_element(vacuum_mean.begin(), vacuum_mean.end());
  const double cut = vmax * threshold;
  Mask mask(vacuum_mean.size());
  for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = vacuum_mean[i] > cut;
  for (int it = 0; it < opening; ++it) mask = erode_cross(mask, r, c);
  for (int it = 0; it < opening; ++it) mask = dilate_cross(mask, r, c);
  mask = dilate_cross(mask, r, c);
  require(std::any_of(mask.begin(), mask.end(), [](auto m) { return m != 0; }),
          "probe: nothing of the vacuum probe is left after thresholding and opening "
          "(lower probe.threshold or probe.opening)");
  Mask outside(mask.size());
  for (std::size_t i = 0; i < mask.size(); ++i) outside[i] = !mask[i];
  const std::vector<double> dist = distance_transform_edt(outside, r, c);
  std::vector<double> probe(vacuum_mean.size());
  for (std::size_t i = 0; i < probe.size(); ++i) {
    const double cs = std::cos((std::numbers::pi / 2) * std::min(dist[i] / expansion, 1.0));
    probe[i] = vacuum_mean[i] * (cs * cs);
  }
  return probe;
}

ProbeSize get_probe_size(const std::vector<double>& dp,
                         std::uint32_t rows,
                         std::uint32_t cols,
                         double thresh_lower,
                         double thresh_upper,
                         int n) {
  const std::size_t npx = std::size_t{rows} * cols;
  require(dp.size() == npx && npx > 0, "probe: image size does not match rows x cols");
  require(n >= 3, "probe: get_probe_size needs at least 3 thresholds");
  // np.linspace: start + i * step, last element exactly stop.
  std::vector<double> t(n), r(n);
  const double step = (thresh_upper - thresh_lower) / double(n - 1);
  for (int i = 0; i < n; ++i) t[i] = double(i) * step + thresh_lower;
  t[n - 1] = thresh_upper;
  const double dmax = *std::max_element(dp.begin(), dp.end());
  for (int i = 0; i < n; ++i) {
    const double cut = dmax * t[i];
    const auto count = std::count_if(dp.begin(), dp.end(), [cut](double v) { return v > cut; });
    r[i] = std::sqrt(double(count) / std::numbers::pi);
  }
  // np.gradient (unit spacing, first-order edges), then the "flat" part of r(t).
  std::vector<double> g(n);
  g[0] = (r[1] - r[0]) / 1.0;
  g[n - 1] = (r[n - 1] - r[n - 2]) / 1.0;
  for (int i = 1; i < n - 1; ++i) g[i] = (r[i + 1] - r[i - 1]) / 2.0;
  std::vector<double> sorted = g;
  std::sort(sorted.begin(), sorted.end());
  const double median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
  std::vector<double> rsel, tsel;
  for (int i = 0; i < n; ++i) {
    if (g[i] <= 0 && g[i] >= 2 * median) {
      rsel.push_back(r[i]);
      tsel.push_back(t[i]);
    }
  }
  require(!rsel.empty(), "probe: get_probe_size found no stable radius (is the probe visible?)");
  ProbeSize out;
  out.alpha = npc::pairwise_sum(rsel) / double(rsel.size());
  const double thresh = npc::pairwise_sum(tsel) / double(tsel.size());
  const double cut = dmax * thresh;
  std::vector<double> masked(npx), wx(npx), wy(npx);
  for (std::uint32_t i = 0; i < rows; ++i) {
    for (std::uint32_t j = 0; j < cols; ++j) {
      const std::size_t k = std::size_t{i} * cols + j;
      masked[k] = dp[k] * (dp[k] > cut ? 1.0 : 0.0);
      wx[k] = double(i) * masked[k];
      wy[k] = double(j) * masked[k];
    }
  }
  const double tot = npc::pairwise_sum(masked);
  require(tot != 0, "probe: get_probe_size: the thresholded probe has zero total intensity");
  out.qx0 = npc::pairwise_sum(wx) / tot;
  out.qy0 = npc::pairwise_sum(wy) / tot;
  return out;
}

ProbeKernel make_probe_kernel(const std::vector<double>& probe,
                              std::uint32_t rows,
                              std::uint32_t cols,
                              const ProbeParams& p,
                              double qx0,
                              double qy0,
                              std::array<double, 2>* radii_used) {
  const long r = rows, c = cols;
  const std::size_t n = std::size_t(r * c);
  require(probe.size() == n && n > 0, "probe: image size does not match rows x cols");
  ProbeKernel k{rows, cols, {}};
  if (radii_used) *radii_used = {0.0, 0.0};

  if (p.mode == KernelMode::kFlat) {
    // get_probe_kernel_flat: normalise, then shift (Fourier by default).
    const double s = npc::pairwise_sum(probe);
    require(s != 0, "probe: the probe sums to zero");
    std::vector<double> norm(n);
    for (std::size_t i = 0; i < n; ++i) norm[i] = probe[i] / s;
    k.values = shifted(norm, r, c, -qx0, -qy0, p.bilinear.value_or(false));
    return k;
  }

  // The edge kernels shift first (bilinear by default), then subtract a normalised edge function.
  const std::vector<double> pk = shifted(probe, r, c, -qx0, -qy0, p.bilinear.value_or(true));
  std::vector<double> edge(n);
  if (p.mode == KernelMode::kGaussian) {
    std::vector<double> qr2(n), w(n);
    for (long i = 0; i < r; ++i) {
      for (long j = 0; j < c; ++j) {
        const long x = wrapped(i, r), y = wrapped(j, c);
        qr2[i * c + j] = double(x * x + y * y);
      }
    }
    for (std::size_t i = 0; i < n; ++i) w[i] = qr2[i] * pk[i];
    const double qstd2 = npc::pairwise_sum(w) / npc::pairwise_sum(pk);
    const double sg = *p.gaussian_sigma;
    for (std::size_t i = 0; i < n; ++i) edge[i] = std::exp(-qr2[i] / (2 * qstd2 * (sg * sg)));
  } else {
    require(p.radii.has_value(),
            "probe.radii is required for the sigmoid kernels (build_probe_template defaults it to "
            "(alpha, 2 alpha))");
    const std::array<double, 2> radii = *p.radii;
    require(radii[1] > radii[0], "probe.radii must satisfy inner < outer for the sigmoid kernels");
    if (radii_used) *radii_used = radii;
    const double ri = radii[0], ro = radii[1];
    const bool logistic = p.mode == KernelMode::kSigmoidLogistic ||
                          (p.mode == KernelMode::kSigmoidLog && p.sigmoid_log_is_logistic);
    for (long i = 0; i < r; ++i) {
      for (long j = 0; j < c; ++j) {
        const long x = wrapped(i, r), y = wrapped(j, c);
        const double qr = std::sqrt(double(x * x + y * y));
        double s;
        if (logistic) {
          const double r0 = 0.5 * (ro + ri);
          const double sigma = 0.25 * (ro - ri);
          s = 1 / (1 + std::exp((qr - r0) / sigma));
        } else {
          s = (qr - ri) / (ro - ri);
          s = std::min(std::max(s, 0.0), 1.0);
          const double cs = std::cos((std::numbers::pi / 2) * s);
          s = cs * cs;
        }
        edge[i * c + j] = s;
      }
    }
  }
  const double sp = npc::pairwise_sum(pk);
  const double se = npc::pairwise_sum(edge);
  require(sp != 0 && se != 0, "probe: kernel normalisation by zero");
  k.values.resize(n);
  for (std::size_t i = 0; i < n; ++i) k.values[i] = pk[i] / sp - edge[i] / se;
  return k;
}

ProbeTemplate build_probe_template(const ProbeParams& p,
                                   const std::vector<double>& vacuum_mean,
                                   std::uint32_t rows,
                                   std::uint32_t cols) {
  validate(p);
  ProbeTemplate t;
  t.probe = probe_from_vacuum(vacuum_mean, rows, cols, p.threshold, p.expansion, p.opening);
  const ProbeSize sz = get_probe_size(
      t.probe, rows, cols, p.size_thresh_lower, p.size_thresh_upper, p.size_thresh_count);
  t.alpha = sz.alpha;
  t.qx0 = sz.qx0;
  t.qy0 = sz.qy0;
  ProbeParams kp = p;
  if (!kp.radii) kp.radii = std::array<double, 2>{sz.alpha, 2.0 * sz.alpha};
  const double ox = p.origin ? (*p.origin)[0] : sz.qx0;
  const double oy = p.origin ? (*p.origin)[1] : sz.qy0;
  t.kernel = make_probe_kernel(t.probe, rows, cols, kp, ox, oy, &t.radii);
  return t;
}

}  // namespace stemflow::ops
