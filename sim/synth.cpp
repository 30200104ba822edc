// SPDX-License-Identifier: GPL-3.0-or-later
#include "sim/synth.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "pipeline/core/expected.hpp"

namespace stemflow::sim {

static_assert(std::endian::native == std::endian::little,
              "frames are written in host byte order, which must be little-endian");

namespace {

constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ULL;
constexpr std::uint64_t kWeightStream = 0x5EED5EED0000A11CULL;  // the sf weights' stream
constexpr double kCutoffWidths = 8.0;  // disks are evaluated for r < R + 8 w (tail < 1.3e-14 A)
constexpr double kPtrsMinMean = 10.0;
constexpr double kMaxCounts = 1e12;  // keeps the Poisson sampler's doubles exact enough
constexpr std::uint32_t kMaxFrameSide = 16384;
constexpr std::size_t kChunk = 256;  // pixels of a row rendered at once (stack buffers)
template <class PixelT>
constexpr std::uint64_t kPixelMax = std::numeric_limits<PixelT>::max();

// The row loops vectorise; on x86-64 with GCC they are also built for x86-64-v3 (AVX2), chosen at
// load time. Without contracted multiply-adds (-ffp-contract=off, see CMakeLists.txt) both builds
// give bit-identical frames. Not under ThreadSanitizer: GCC instruments the clones' ifunc resolver,
// which the dynamic loader runs before the TSan runtime is ready (a crash at start).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(__SANITIZE_THREAD__)
#define STEMFLOW_SIM_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define STEMFLOW_SIM_CLONES
#endif

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += kGolden);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  std::uint64_t x = a;
  std::uint64_t h = splitmix64(x);
  x = h ^ (b * kGolden + 0x2545F4914F6CDD1DULL);
  return splitmix64(x);
}

// log(Gamma(x)) for x >= 1 by the Stirling series (the form numpy's random_loggam uses);
// thread-safe, unlike std::lgamma, which sets the global signgam.
double log_gamma(double x) {
  static constexpr double kA[10] = {8.333333333333333e-02,
                                    -2.777777777777778e-03,
                                    7.936507936507937e-04,
                                    -5.952380952380952e-04,
                                    8.417508417508418e-04,
                                    -1.917526917526918e-03,
                                    6.410256410256410e-03,
                                    -2.955065359477124e-02,
                                    1.796443723688307e-01,
                                    -1.39243221690590e+00};
  constexpr double kLog2Pi = 1.8378770664093453;
  if (x == 1.0 || x == 2.0) return 0.0;
  const int n = x < 7.0 ? static_cast<int>(7.0 - x) : 0;
  double x0 = x + n;
  const double x2 = 1.0 / (x0 * x0);
  double gl0 = kA[9];
  for (int k = 8; k >= 0; --k) gl0 = gl0 * x2 + kA[k];
  double gl = gl0 / x0 + 0.5 * kLog2Pi + (x0 - 0.5) * std::log(x0) - x0;
  for (int k = 1; k <= n; ++k) {
    gl -= std::log(x0 - 1.0);
    x0 -= 1.0;
  }
  return gl;
}

// exp(x), relative error ~1e-15, for x clamped to [-708, 709]; branch-free so that the loops over a
// row vectorise (glibc's exp does not). Cody-Waite reduction x = n ln2 + r, |r| <= ln2 / 2, then
// the degree-12 Taylor polynomial of exp(r) (remainder < 2e-16) and 2^n built in the exponent bits.
inline double exp_fast(double x) {
  constexpr double kLog2e = 1.4426950408889634;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  constexpr double kShift = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
  x = x < -708.0 ? -708.0 : x;
  x = x > 709.0 ? 709.0 : x;
  const double t = x * kLog2e + kShift;
  const double n = t - kShift;
  const double r = (x - n * kLn2Hi) - n * kLn2Lo;
  double p = 1.0 / 479001600.0;  // 1/12!
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // The low bits of t hold n; n + 1023 in [1, 2046] is the biased exponent of 2^n.
  const std::uint64_t scale = (std::bit_cast<std::uint64_t>(t) + 1023) << 52;
  return p * std::bit_cast<double>(scale);
}

// Hoermann (1993), "The transformed rejection method for generating Poisson random variables",
// algorithm PTRS; exact for mean >= 10.
std::uint64_t poisson_ptrs(double lam, Xoshiro256& rng) {
  const double slam = std::sqrt(lam);
  const double b = 0.931 + 2.53 * slam;
  const double a = -0.059 + 0.02483 * b;
  const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
  const double vr = 0.9277 - 3.6224 / (b - 2.0);
  double log_lam = -1.0;  // computed on the first slow-path test
  for (;;) {
    const double u = rng.uniform() - 0.5;
    const double v = rng.uniform();
    const double us = 0.5 - std::fabs(u);
    const double kd = std::floor((2.0 * a / us + b) * u + lam + 0.43);
    if (us >= 0.07 && v <= vr) return static_cast<std::uint64_t>(kd);
    if (kd < 0.0 || (us < 0.013 && v > us)) continue;
    if (log_lam < 0.0) log_lam = std::log(lam);
    if (std::log(v) + std::log(inv_alpha) - std::log(a / (us * us) + b) <=
        -lam + kd * log_lam - log_gamma(kd + 1.0)) {
      return static_cast<std::uint64_t>(kd);
    }
  }
}

// 1 / k, so that the inversion loop multiplies instead of divides.
constexpr std::size_t kMaxInversionSteps = 200;  // reached only when u rounds above the summed pmf
constexpr auto kInverse = [] {
  std::array<double, kMaxInversionSteps + 1> t{};
  for (std::size_t k = 1; k < t.size(); ++k) t[k] = 1.0 / static_cast<double>(k);
  return t;
}();

// Inversion by sequential search for mean < 10; exp_minus_lam = exp(-lam).
std::uint64_t poisson_inversion(double lam, double exp_minus_lam, Xoshiro256& rng) {
  double p = exp_minus_lam;
  double s = p;
  const double u = rng.uniform();
  std::size_t k = 0;
  while (u > s && k < kMaxInversionSteps) {
    ++k;
    p *= lam * kInverse[k];
    s += p;
  }
  return k;
}

// Poisson draws for n <= kChunk means. The same inversion as poisson_inversion, restructured so
// that the common case vectorises: one uniform per value first, then the first kVectorSteps steps
// of the search for every value at once, branch-free; the few values whose search goes further (or
// whose mean takes PTRS, drawing further uniforms, in order) finish one by one.
STEMFLOW_SIM_CLONES void poisson_chunk(const double* mean,
                                       std::size_t n,
                                       Xoshiro256& rng,
                                       std::uint64_t* out) {
  constexpr int kVectorSteps = 6;
  std::array<double, kChunk> u, cdf, pmf, steps;
  for (std::size_t i = 0; i < n; ++i) u[i] = rng.uniform();
  for (std::size_t i = 0; i < n; ++i) {
    const double lam = mean[i] < kPtrsMinMean ? mean[i] : 0.0;
    double p = exp_fast(-lam);
    double s = p;
    double c = u[i] > s ? 1.0 : 0.0;
    for (int k = 1; k <= kVectorSteps; ++k) {
      p *= lam * kInverse[k];
      s += p;
      c += u[i] > s ? 1.0 : 0.0;
    }
    steps[i] = c;
    cdf[i] = s;
    pmf[i] = p;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const double lam = mean[i];
    if (!(lam > 0.0)) {
      out[i] = 0;
    } else if (lam >= kPtrsMinMean) {
      out[i] = poisson_ptrs(lam, rng);
    } else if (steps[i] <= kVectorSteps) {
      out[i] = static_cast<std::uint64_t>(steps[i]);
    } else {
      std::size_t k = kVectorSteps;
      double p = pmf[i];
      double s = cdf[i];
      while (u[i] > s && k < kMaxInversionSteps) {
        ++k;
        p *= lam * kInverse[k];
        s += p;
      }
      out[i] = k;
    }
  }
}

void require(bool ok, const std::string& what) {
  if (!ok) throw ConfigError("synthetic scan: " + what);
}

void validate(const SynthParams& p) {
  require(p.scan_rows >= 1 && p.scan_cols >= 1, "scan_rows and scan_cols must be >= 1");
  require(p.frame_rows >= 1 && p.frame_cols >= 1 && p.frame_rows <= kMaxFrameSide &&
              p.frame_cols <= kMaxFrameSide,
          "frame_rows and frame_cols must be in [1, " + std::to_string(kMaxFrameSide) + "]");
  const double doubles[] = {p.disk_radius,
                            p.edge_width,
                            p.g1[0],
                            p.g1[1],
                            p.g2[0],
                            p.g2[1],
                            p.qmax,
                            p.origin_offset[0],
                            p.origin_offset[1],
                            p.origin_drift[0],
                            p.origin_drift[1],
                            p.strain_xx_span,
                            p.strain_yy_span,
                            p.shear_xy_span,
                            p.rotation_span_deg,
                            p.central_counts,
                            p.bragg_counts,
                            p.bragg_decay,
                            p.thickness_modulation,
                            p.thickness_cycles[0],
                            p.thickness_cycles[1],
                            p.sf_min,
                            p.sf_max,
                            p.background_counts,
                            p.background_decay,
                            p.background_floor};
  for (double d : doubles) require(std::isfinite(d), "all parameters must be finite");
  require(p.disk_radius > 0, "disk_radius must be > 0");
  require(p.edge_width > 0, "edge_width must be > 0");
  require(p.qmax >= 0, "qmax must be >= 0");
  require(p.bragg_decay > 0 && p.background_decay > 0,
          "bragg_decay and background_decay must be > 0");
  require(p.central_counts >= 0 && p.bragg_counts >= 0 && p.background_counts >= 0 &&
              p.background_floor >= 0,
          "counts must be >= 0");
  require(p.central_counts + p.bragg_counts * p.sf_max * (1 + p.thickness_modulation) +
                  p.background_counts + p.background_floor <=
              kMaxCounts,
          "counts must stay below 1e12 per pixel");
  require(p.thickness_modulation >= 0 && p.thickness_modulation <= 1,
          "thickness_modulation must be in [0, 1]");
  require(p.sf_min >= 0 && p.sf_min <= p.sf_max, "need 0 <= sf_min <= sf_max");
  require(std::fabs(p.strain_xx_span) <= 0.5 && std::fabs(p.strain_yy_span) <= 0.5 &&
              std::fabs(p.shear_xy_span) <= 0.5,
          "strain and shear spans must be within [-0.5, 0.5]");
}

// What render_frame needs of one scan position.
struct FrameModel {
  const SynthParams* params;
  std::span<const TruthDisk> disks;
  std::array<double, 2> origin;
  double radius;        // R, px
  double sharpness;     // 4 / w
  double cutoff2;       // (R + 8 w)^2
  double inv_bg_decay;  // 1 / background decay, 1/px
  bool background;
};

// Renders a frame row by row, kChunk pixels at a time: the background and each disk that reaches
// the row (within its cutoff) into `mean`, then the Poisson draws (or the rounded means) into
// `out`.
template <class PixelT>
STEMFLOW_SIM_CLONES void render_frame(const FrameModel& m, Xoshiro256& rng, std::byte* out) {
  const SynthParams& p = *m.params;
  const std::uint32_t rows = p.frame_rows;
  const std::uint32_t cols = p.frame_cols;
  std::array<double, kChunk> mean;
  std::array<std::uint64_t, kChunk> counts;
  std::array<PixelT, kChunk> pixels;
  for (std::uint32_t i = 0; i < rows; ++i) {
    const double x = i;
    const double dx0 = x - m.origin[0];
    for (std::uint32_t c0 = 0; c0 < cols; c0 += kChunk) {
      const int n = static_cast<int>(std::min<std::uint32_t>(kChunk, cols - c0));
      const double chunk_first = c0;
      const double chunk_last = chunk_first + (n - 1);
      bool any = m.background;
      if (m.background) {
        const double y0 = static_cast<double>(c0) - m.origin[1];
        for (int j = 0; j < n; ++j) {
          const double dy = y0 + j;
          mean[j] =
              p.background_floor +
              p.background_counts * exp_fast(-std::sqrt(dx0 * dx0 + dy * dy) * m.inv_bg_decay);
        }
      } else {
        std::fill_n(mean.begin(), n, 0.0);
      }
      for (const TruthDisk& disk : m.disks) {
        const double dx = x - disk.qx;
        const double dx2 = dx * dx;
        if (dx2 >= m.cutoff2 || !(disk.amplitude > 0)) continue;
        const double half = std::sqrt(m.cutoff2 - dx2);
        if (disk.qy + half < chunk_first || disk.qy - half > chunk_last)
          continue;  // keeps ints small
        const int lo =
            std::max(static_cast<int>(std::ceil(disk.qy - half)) - static_cast<int>(c0), 0);
        const int hi =
            std::min(static_cast<int>(std::floor(disk.qy + half)) - static_cast<int>(c0), n - 1);
        const double y0 = static_cast<double>(c0) - disk.qy;
        const double amp = disk.amplitude;
        for (int j = lo; j <= hi; ++j) {
          const double dy = y0 + j;
          const double r = std::sqrt(dx2 + dy * dy);
          mean[j] += amp / (1.0 + exp_fast(m.sharpness * (r - m.radius)));
        }
        any |= lo <= hi;
      }
      if (!any) {
        std::fill_n(pixels.begin(), n, PixelT{0});  // nothing here (vacuum): no draws either
      } else if (p.poisson) {
        poisson_chunk(mean.data(), static_cast<std::size_t>(n), rng, counts.data());
        for (int j = 0; j < n; ++j) {
          if constexpr (std::is_floating_point_v<PixelT>) {
            pixels[j] = static_cast<PixelT>(counts[j]);
          } else {
            pixels[j] = static_cast<PixelT>(std::min<std::uint64_t>(counts[j], kPixelMax<PixelT>));
          }
        }
      } else {
        for (int j = 0; j < n; ++j) {
          if constexpr (std::is_floating_point_v<PixelT>) {
            pixels[j] = static_cast<PixelT>(mean[j]);
          } else {
            pixels[j] = static_cast<PixelT>(
                std::min(mean[j] + 0.5, static_cast<double>(kPixelMax<PixelT>)));
          }
        }
      }
      std::memcpy(out + (std::size_t{i} * cols + c0) * sizeof(PixelT),
                  pixels.data(),
                  static_cast<std::size_t>(n) * sizeof(PixelT));
    }
  }
}

}  // namespace

// ---- random numbers
// -------------------------------------------------------------------------------

Xoshiro256::Xoshiro256(std::uint64_t seed) {
  std::uint64_t x = seed;
  for (auto& w : s_) w = splitmix64(x);
}

std::uint64_t Xoshiro256::next() {
  const std::uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = std::rotl(s_[3], 45);
  return result;
}

std::uint64_t sample_poisson(double mean, Xoshiro256& rng) {
  if (!(mean > 0.0)) return 0;
  return mean < kPtrsMinMean ? poisson_inversion(mean, exp_fast(-mean), rng)
                             : poisson_ptrs(mean, rng);
}

void sample_poisson(std::span<const double> means, Xoshiro256& rng, std::span<std::uint64_t> out) {
  if (out.size() != means.size()) throw std::invalid_argument("sample_poisson: sizes differ");
  for (std::size_t i = 0; i < means.size(); i += kChunk) {
    poisson_chunk(means.data() + i, std::min(kChunk, means.size() - i), rng, out.data() + i);
  }
}

// ---- the scan
// -------------------------------------------------------------------------------------

SynthScan::SynthScan(const SynthParams& params) : params_(params) {
  validate(params_);
  const double qx = params_.frame_rows;
  const double qy = params_.frame_cols;
  q_ = std::min(qx, qy);
  radius_ = params_.disk_radius * q_;
  width_ = params_.edge_width * q_;
  cutoff_ = radius_ + kCutoffWidths * width_;
  bragg_decay_ = params_.bragg_decay * q_;
  bg_decay_ = params_.background_decay * q_;
  g1_ = {params_.g1[0] * qx, params_.g1[1] * qy};
  g2_ = {params_.g2[0] * qx, params_.g2[1] * qy};

  reflections_.push_back({0, 0, 1.0});
  if (params_.vacuum) return;

  const double det = g1_[0] * g2_[1] - g1_[1] * g2_[0];
  const double qmax = params_.qmax * q_;
  if (qmax > 0) {
    require(std::fabs(det) > 1e-9 * (std::hypot(g1_[0], g1_[1]) * std::hypot(g2_[0], g2_[1])) &&
                std::fabs(det) > 0,
            "g1 and g2 must not be parallel");
    // (h, k) = G0^-1 g, so |h| <= |row 1 of G0^-1| qmax and likewise for k.
    const double hmax = std::hypot(g2_[0], g2_[1]) / std::fabs(det) * qmax;
    const double kmax = std::hypot(g1_[0], g1_[1]) / std::fabs(det) * qmax;
    require(hmax < 1000 && kmax < 1000, "too many reflections (lower qmax or enlarge g1, g2)");
    const int hn = static_cast<int>(std::ceil(hmax));
    const int kn = static_cast<int>(std::ceil(kmax));
    for (int h = -hn; h <= hn; ++h) {
      for (int k = -kn; k <= kn; ++k) {
        if (h == 0 && k == 0) continue;
        const double gx = h * g1_[0] + k * g2_[0];
        const double gy = h * g1_[1] + k * g2_[1];
        if (std::hypot(gx, gy) < qmax) reflections_.push_back({h, k, 0.0});
      }
    }
    require(reflections_.size() <= kMaxDisks,
            "more than " + std::to_string(kMaxDisks) + " disks per frame (lower qmax)");
  }
  // One weight per +-(h, k) pair, drawn in (h, k) order of the pair's positive member.
  Xoshiro256 rng(mix(params_.seed, kWeightStream));
  const auto positive = [](const Reflection& r) { return r.h > 0 || (r.h == 0 && r.k > 0); };
  for (auto& r : reflections_) {
    if (r.h == 0 && r.k == 0) continue;
    if (positive(r)) r.sf = params_.sf_min + (params_.sf_max - params_.sf_min) * rng.uniform();
  }
  for (auto& r : reflections_) {
    if (positive(r) || (r.h == 0 && r.k == 0)) continue;
    for (const auto& p : reflections_) {
      if (p.h == -r.h && p.k == -r.k) r.sf = p.sf;
    }
  }
}

std::array<double, 2> SynthScan::layout(std::uint64_t index, std::span<TruthDisk> disks) const {
  const auto& p = params_;
  const std::uint64_t rx = index / p.scan_cols;
  const std::uint64_t ry = index % p.scan_cols;
  const double u = p.scan_rows > 1 ? static_cast<double>(rx) / (p.scan_rows - 1) - 0.5 : 0.0;
  const double v = p.scan_cols > 1 ? static_cast<double>(ry) / (p.scan_cols - 1) - 0.5 : 0.0;
  const double cx = 0.5 * p.frame_rows + p.origin_offset[0];
  const double cy = 0.5 * p.frame_cols + p.origin_offset[1];
  if (p.vacuum) {
    disks[0] = {0, 0, cx, cy, p.central_counts};
    return {cx, cy};
  }
  const double ox = cx + p.origin_drift[0] * u;
  const double oy = cy + p.origin_drift[1] * v;

  // M = Rot(theta) (I + E); the reciprocal lattice transforms with A = M^-T.
  const double exx = p.strain_xx_span * u;
  const double eyy = p.strain_yy_span * v;
  const double exy = p.shear_xy_span * 0.5 * (u + v);
  const double theta = p.rotation_span_deg * v * std::numbers::pi / 180.0;
  const double c = std::cos(theta);
  const double s = std::sin(theta);
  const double m00 = c * (1 + exx) - s * exy;
  const double m01 = c * exy - s * (1 + eyy);
  const double m10 = s * (1 + exx) + c * exy;
  const double m11 = s * exy + c * (1 + eyy);
  const double det = m00 * m11 - m01 * m10;
  const double a00 = m11 / det, a01 = -m10 / det, a10 = -m01 / det, a11 = m00 / det;

  const double modulation =
      1.0 +
      p.thickness_modulation * std::sin(2.0 * std::numbers::pi *
                                        (p.thickness_cycles[0] * u + p.thickness_cycles[1] * v));
  for (std::size_t i = 0; i < reflections_.size(); ++i) {
    const auto& r = reflections_[i];
    if (r.h == 0 && r.k == 0) {
      disks[i] = {0, 0, ox, oy, p.central_counts};
      continue;
    }
    const double gx0 = r.h * g1_[0] + r.k * g2_[0];
    const double gy0 = r.h * g1_[1] + r.k * g2_[1];
    const double gx = a00 * gx0 + a01 * gy0;
    const double gy = a10 * gx0 + a11 * gy0;
    const double amp =
        p.bragg_counts * r.sf * std::exp(-std::hypot(gx, gy) / bragg_decay_) * modulation;
    disks[i] = {r.h, r.k, ox + gx, oy + gy, amp};
  }
  return {ox, oy};
}

std::vector<TruthDisk> SynthScan::ground_truth(std::uint64_t index) const {
  if (index >= params_.scan_size()) throw std::out_of_range("SynthScan::ground_truth: index");
  std::vector<TruthDisk> out(reflections_.size());
  layout(index, out);
  return out;
}

void SynthScan::render(std::uint64_t index, std::span<std::byte> out) const {
  if (index >= params_.scan_size())
    throw std::out_of_range("SynthScan::render: index >= scan size");
  if (out.size() != params_.frame_bytes()) {
    throw std::invalid_argument("SynthScan::render: buffer of " + std::to_string(out.size()) +
                                " bytes, frame needs " + std::to_string(params_.frame_bytes()));
  }
  std::array<TruthDisk, kMaxDisks> disks;
  const auto origin = layout(index, disks);
  const FrameModel model{
      .params = &params_,
      .disks = std::span<const TruthDisk>(disks.data(), reflections_.size()),
      .origin = origin,
      .radius = radius_,
      .sharpness = 4.0 / width_,
      .cutoff2 = cutoff_ * cutoff_,
      .inv_bg_decay = 1.0 / bg_decay_,
      .background =
          !params_.vacuum && (params_.background_counts > 0 || params_.background_floor > 0),
  };
  Xoshiro256 rng(mix(params_.seed, index));
  visit_dtype(params_.dtype, [&]<class PixelT>() { render_frame<PixelT>(model, rng, out.data()); });
}

}  // namespace stemflow::sim
