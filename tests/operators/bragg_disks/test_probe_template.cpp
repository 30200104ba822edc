// SPDX-License-Identifier: GPL-3.0-or-later
// Spec: the probe template recipe (from_vacuum_data -> get_probe_size -> get_kernel) reproduces
// py4DSTEM 0.14.18 on the reference vacuum stacks; its building blocks behave as scipy / numpy do.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "operators/bragg_disks/probe_template.hpp"
#include "pipeline/core/expected.hpp"
#include "reference_data.hpp"

using namespace stemflow;
using namespace stemflow::testing;
using ops::KernelMode;
using ops::ProbeParams;

namespace {

// A synthetic probe: a logistic disk (py4DSTEM's generate_synthetic_probe form) at (x0, y0).
std::vector<double> disk(
    std::uint32_t rows, std::uint32_t cols, double x0, double y0, double r, double amp = 1000.0) {
  std::vector<double> v(std::size_t{rows} * cols);
  for (std::uint32_t i = 0; i < rows; ++i) {
    for (std::uint32_t j = 0; j < cols; ++j) {
      const double d = std::hypot(i - x0, j - y0);
      v[std::size_t{i} * cols + j] = amp / (1 + std::exp(4 * (d - r) / 1.0));
    }
  }
  return v;
}

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

}  // namespace

// The reference recipe on each dataset's vacuum stack gives meta.json's alpha, qx0, qy0 (to 1e-12)
// and template_float32.raw (to float32 rounding).
TEST(ProbeTemplate, MatchesPy4dstemOnReferenceVacuumStacks) {
  const auto names = reference_datasets();
  if (names.empty()) GTEST_SKIP() << "no reference data under " << reference_root();
  for (const auto& name : names) {
    const auto dir = reference_root() / name;
    const Meta m = read_meta(dir);
    const auto stack = test::read_raw<std::uint16_t>(dir / "vacuum_stack_uint16.raw");
    const std::size_t npx = std::size_t{m.qx} * m.qy;
    ASSERT_EQ(stack.size() % npx, 0u);
    const auto mean = ops::average_frames(reinterpret_cast<const std::byte*>(stack.data()),
                                          Dtype::kU16,
                                          stack.size() / npx,
                                          m.qx,
                                          m.qy);
    ProbeParams
        p;  // defaults = the reference recipe: threshold 0.2, expansion 12, opening 3, sigmoid
    const ops::ProbeTemplate t = ops::build_probe_template(p, mean, m.qx, m.qy);
    std::printf("  %s: alpha %.15g (ref %.15g), qx0 %.15g (ref %.15g), qy0 %.15g (ref %.15g)\n",
                name.c_str(),
                t.alpha,
                m.alpha,
                t.qx0,
                m.qx0,
                t.qy0,
                m.qy0);
    EXPECT_NEAR(t.alpha, m.alpha, 1e-12 * m.alpha) << name;
    EXPECT_NEAR(t.qx0, m.qx0, 1e-12 * m.qx0) << name;
    EXPECT_NEAR(t.qy0, m.qy0, 1e-12 * m.qy0) << name;
    EXPECT_DOUBLE_EQ(t.radii[0], t.alpha);
    EXPECT_DOUBLE_EQ(t.radii[1], 2 * t.alpha);

    const auto ref = test::read_raw<float>(dir / "template_float32.raw");
    ASSERT_EQ(ref.size(), npx);
    ASSERT_EQ(t.kernel.values.size(), npx);
    float kmax = 0;
    for (float v : ref) kmax = std::max(kmax, std::abs(v));
    std::size_t exact = 0;
    double worst = 0;
    for (std::size_t i = 0; i < npx; ++i) {
      const float ours = static_cast<float>(t.kernel.values[i]);
      if (ours == ref[i]) ++exact;
      // one float32 ulp of the value, or of the kernel's scale for values near zero
      const double tol = std::max(std::abs(double(ref[i])), 1e-6 * kmax) * 1.2e-7;
      worst = std::max(worst, std::abs(t.kernel.values[i] - double(ref[i])) / tol);
      EXPECT_LE(std::abs(t.kernel.values[i] - double(ref[i])), tol) << name << " pixel " << i;
    }
    std::printf(
        "  %s: kernel equals template_float32.raw bit for bit at %zu of %zu pixels "
        "(worst: %.3g float32 ulp)\n",
        name.c_str(),
        exact,
        npx,
        worst);
  }
}

// get_probe_size on a clean synthetic disk finds its radius and centre.
TEST(ProbeTemplate, ProbeSizeOfSyntheticDisk) {
  const auto d = disk(96, 80, 40.3, 37.8, 9.0);
  const auto s = ops::get_probe_size(d, 96, 80);
  EXPECT_NEAR(s.alpha, 9.0, 0.25);
  EXPECT_NEAR(s.qx0, 40.3, 0.05);
  EXPECT_NEAR(s.qy0, 37.8, 0.05);
}

// from_vacuum_data keeps the disk, zeros (to cos^2(pi/2) ~ 4e-33) what lies beyond the expansion,
// removes a stray bright pixel (the opening), and leaves the soft edge in between.
TEST(ProbeTemplate, VacuumMaskOpensAndSoftensTheEdge) {
  auto d = disk(64, 64, 32, 32, 8.0);
  d[5 * 64 + 5] = 1000.0;  // a hot pixel far from the disk
  const auto p = ops::probe_from_vacuum(d, 64, 64, 0.2, 6, 3);
  EXPECT_DOUBLE_EQ(p[32 * 64 + 32], d[32 * 64 + 32]);  // inside: untouched
  EXPECT_LT(p[5 * 64 + 5], 1e-25);                     // hot pixel: beyond the expansion
  const double edge = p[32 * 64 + 32 + 11] / d[32 * 64 + 32 + 11];  // ~2 px outside the mask
  EXPECT_GT(edge, 0.1);
  EXPECT_LT(edge, 1.0);
}

// Kernel modes: flat sums to 1 and is centred on (0, 0); gaussian, sigmoid and logistic sum to 0
// and are centred on (0, 0); sigmoid_log is sine-squared like py4DSTEM unless the fix is switched
// on.
TEST(ProbeTemplate, KernelModes) {
  const std::uint32_t n = 64;
  const auto probe = disk(n, n, 30.25, 33.5, 6.0);
  ProbeParams p;
  p.radii = std::array<double, 2>{6.0, 12.0};
  p.gaussian_sigma = 1.5;
  // The probe's centre lands on pixel (0, 0): the positive part's centre of mass in wrapped
  // coordinates is at the origin (the value at (0, 0) need not be the maximum: the Fourier shift
  // rings and the Gaussian edge dips there).
  const auto peak_at_origin = [&](const ops::ProbeKernel& k) {
    double s = 0, sx = 0, sy = 0;
    for (std::uint32_t i = 0; i < n; ++i)
      for (std::uint32_t j = 0; j < n; ++j) {
        const double v = std::max(k.values[i * n + j], 0.0);
        const double x = i < n / 2 ? double(i) : double(i) - n,
                     y = j < n / 2 ? double(j) : double(j) - n;
        s += v;
        sx += v * x;
        sy += v * y;
      }
    return std::abs(sx / s) < 0.05 && std::abs(sy / s) < 0.05;
  };
  p.mode = KernelMode::kFlat;
  const auto flat = ops::make_probe_kernel(probe, n, n, p, 30.25, 33.5);
  EXPECT_NEAR(sum(flat.values), 1.0, 1e-12);
  EXPECT_TRUE(peak_at_origin(flat));
  for (KernelMode m : {KernelMode::kGaussian, KernelMode::kSigmoid, KernelMode::kSigmoidLogistic}) {
    p.mode = m;
    const auto k = ops::make_probe_kernel(probe, n, n, p, 30.25, 33.5);
    EXPECT_NEAR(sum(k.values), 0.0, 1e-12) << int(m);
    EXPECT_TRUE(peak_at_origin(k)) << int(m);
  }
  p.mode = KernelMode::kSigmoid;
  const auto sine = ops::make_probe_kernel(probe, n, n, p, 30.25, 33.5);
  p.mode = KernelMode::kSigmoidLogistic;
  const auto logistic = ops::make_probe_kernel(probe, n, n, p, 30.25, 33.5);
  p.mode = KernelMode::kSigmoidLog;
  const auto log_bug = ops::make_probe_kernel(probe, n, n, p, 30.25, 33.5);
  EXPECT_EQ(log_bug.values, sine.values);
  p.sigmoid_log_is_logistic = true;
  const auto log_fixed = ops::make_probe_kernel(probe, n, n, p, 30.25, 33.5);
  EXPECT_EQ(log_fixed.values, logistic.values);
  EXPECT_NE(sine.values, logistic.values);
}

// Integer shifts by the Fourier method and the bilinear method agree (both exact for integers).
TEST(ProbeTemplate, FourierAndBilinearShiftAgreeOnIntegerShifts) {
  const std::uint32_t n = 48;
  const auto probe = disk(n, n, 20, 27, 5.0);
  ProbeParams p;
  p.mode = KernelMode::kFlat;
  p.bilinear = false;
  const auto f = ops::make_probe_kernel(probe, n, n, p, 20, 27);
  p.bilinear = true;
  const auto b = ops::make_probe_kernel(probe, n, n, p, 20, 27);
  for (std::size_t i = 0; i < f.values.size(); ++i) EXPECT_NEAR(f.values[i], b.values[i], 1e-15);
  EXPECT_NEAR(b.values[0], probe[20 * n + 27] / sum(probe), 1e-15);
}

// Bad probe parameters and empty probes are configuration errors.
TEST(ProbeTemplate, BadParametersThrow) {
  const auto d = disk(32, 32, 16, 16, 4.0);
  ProbeParams p;
  p.threshold = 1.5;
  EXPECT_THROW(ops::build_probe_template(p, d, 32, 32), ConfigError);
  p = ProbeParams{};
  p.mode = KernelMode::kGaussian;  // no gaussian_sigma
  EXPECT_THROW(ops::build_probe_template(p, d, 32, 32), ConfigError);
  p = ProbeParams{};
  EXPECT_THROW(ops::build_probe_template(p, std::vector<double>(32 * 32, 0.0), 32, 32),
               ConfigError);
  EXPECT_THROW(ops::build_probe_template(p, d, 16, 32), ConfigError);  // size mismatch
}
