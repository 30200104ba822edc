// SPDX-License-Identifier: GPL-3.0-or-later
// The simulator's random numbers: the Poisson sampler's moments and distribution on both of its
// paths.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "sim/synth.hpp"

using stemflow::sim::sample_poisson;
using stemflow::sim::Xoshiro256;

namespace {

double log_pmf(double lam, std::uint64_t k) {
  return -lam + static_cast<double>(k) * std::log(lam) - std::lgamma(static_cast<double>(k) + 1.0);
}

}  // namespace

// Spec: mean and variance match on the inversion (< 10) and PTRS (>= 10) paths.
TEST(Poisson, MeanAndVarianceMatch) {
  Xoshiro256 rng(42);
  constexpr int kN = 200000;
  for (double lam : {0.05, 0.3, 2.5, 9.99, 10.0, 10.5, 37.5, 250.0, 1200.0, 1e5}) {
    double sum = 0, sum2 = 0;
    for (int i = 0; i < kN; ++i) {
      const double k = static_cast<double>(sample_poisson(lam, rng));
      sum += k;
      sum2 += k * k;
    }
    const double mean = sum / kN;
    const double var = sum2 / kN - mean * mean;
    EXPECT_NEAR(mean, lam, 5.0 * std::sqrt(lam / kN)) << "lambda " << lam;
    // The variance of the sample variance is about (2 lam^2 + lam) / N.
    EXPECT_NEAR(var, lam, 5.0 * std::sqrt((2 * lam * lam + lam) / kN)) << "lambda " << lam;
  }
}

// Spec: the histogram fits the Poisson pmf (chi-square) for one mean on each path.
TEST(Poisson, HistogramFitsPmf) {
  Xoshiro256 rng(7);
  constexpr int kN = 400000;
  for (double lam : {2.5, 15.0}) {
    const std::uint64_t kmax = static_cast<std::uint64_t>(lam + 8 * std::sqrt(lam) + 10);
    std::vector<double> hist(kmax + 1, 0.0);
    for (int i = 0; i < kN; ++i) hist[std::min(sample_poisson(lam, rng), kmax)] += 1;
    double chi2 = 0;
    int bins = 0;
    for (std::uint64_t k = 0; k <= kmax; ++k) {
      const double expected = kN * std::exp(log_pmf(lam, k));
      if (expected < 20) continue;
      chi2 += (hist[k] - expected) * (hist[k] - expected) / expected;
      ++bins;
    }
    // chi2 with ~bins dof: mean bins, sd sqrt(2 bins); allow 5 sd.
    EXPECT_LT(chi2, bins + 5 * std::sqrt(2.0 * bins))
        << "lambda " << lam << ", " << bins << " bins";
  }
}

// Spec: the batched sampler render uses matches the pmf for means mixing both paths.
TEST(Poisson, BatchedSamplerMatchesPmf) {
  Xoshiro256 rng(11);
  constexpr std::size_t kN = 300000;
  const std::vector<double> lams = {0.0, 0.7, 5.5, 9.5, 12.0, 1200.0};
  std::vector<double> means(kN);
  for (std::size_t i = 0; i < kN; ++i) means[i] = lams[(i * 7) % lams.size()];
  std::vector<std::uint64_t> out(kN);
  sample_poisson(means, rng, out);
  for (std::size_t l = 0; l < lams.size(); ++l) {
    const double lam = lams[l];
    const std::uint64_t kmax = static_cast<std::uint64_t>(lam + 8 * std::sqrt(lam) + 10);
    std::vector<double> hist(kmax + 1, 0.0);
    double sum = 0;
    int n = 0;
    for (std::size_t i = 0; i < kN; ++i) {
      if (means[i] != lam) continue;
      hist[std::min(out[i], kmax)] += 1;
      sum += static_cast<double>(out[i]);
      ++n;
    }
    if (lam == 0.0) {
      EXPECT_EQ(sum, 0.0);
      continue;
    }
    EXPECT_NEAR(sum / n, lam, 5.0 * std::sqrt(lam / n)) << "lambda " << lam;
    double chi2 = 0;
    int bins = 0;
    for (std::uint64_t k = 0; k <= kmax; ++k) {
      const double expected = n * std::exp(log_pmf(lam, k));
      if (expected < 20) continue;
      chi2 += (hist[k] - expected) * (hist[k] - expected) / expected;
      ++bins;
    }
    EXPECT_LT(chi2, bins + 5 * std::sqrt(2.0 * bins))
        << "lambda " << lam << ", " << bins << " bins";
  }
  std::vector<std::uint64_t> wrong(3);
  EXPECT_THROW(sample_poisson(means, rng, wrong), std::invalid_argument);
}

// Edge case: zero, negative and NaN means give 0 and consume no random numbers.
TEST(Poisson, NonPositiveMeanIsZero) {
  Xoshiro256 a(3), b(3);
  EXPECT_EQ(sample_poisson(0.0, a), 0u);
  EXPECT_EQ(sample_poisson(-1.0, a), 0u);
  EXPECT_EQ(sample_poisson(std::nan(""), a), 0u);
  EXPECT_EQ(a.next(), b.next());
}

// Spec: the generator is a deterministic function of its seed; uniforms lie in [0, 1).
TEST(Xoshiro, DeterministicAndInRange) {
  Xoshiro256 a(9), b(9), c(10);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    const double u = a.uniform();
    EXPECT_EQ(u, b.uniform());
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
    differs |= u != c.uniform();
  }
  EXPECT_TRUE(differs);
}
