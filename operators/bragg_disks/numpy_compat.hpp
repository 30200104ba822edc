// SPDX-License-Identifier: GPL-3.0-or-later
// Small numerical helpers that reproduce numpy's own arithmetic where py4DSTEM's results depend on
// it: the summation order of np.sum (pairwise, 8-way unrolled) and scipy's Gaussian weights.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

namespace stemflow::ops::npc {

//! np.sum over a contiguous float64 array: numpy's pairwise summation (blocks of <= 128 summed with
//! 8 interleaved accumulators), so that sums used as normalisers round like numpy's.
inline double pairwise_sum(const double* a, std::size_t n) {
  constexpr std::size_t kBlock = 128;
  if (n < 8) {
    double res = 0.0;
    for (std::size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= kBlock) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    std::size_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  std::size_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

inline double pairwise_sum(const std::vector<double>& v) {
  return pairwise_sum(v.data(), v.size());
}

//! scipy.ndimage's 1-D Gaussian weights for sigma (order 0, truncate 4.0): w[0] is the centre tap,
//! w[t] the taps at +-t; radius = int(4 sigma + 0.5). Empty for sigma <= 0.
inline std::vector<double> gaussian_weights(double sigma, double truncate = 4.0) {
  if (!(sigma > 0)) return {};
  const int radius = static_cast<int>(truncate * sigma + 0.5);
  const double sigma2 = sigma * sigma;
  const double coef = -0.5 / sigma2;
  std::vector<double> full(2 * radius + 1);
  for (int x = -radius; x <= radius; ++x) {
    full[x + radius] = std::exp(coef * static_cast<double>(x * x));
  }
  const double s = pairwise_sum(full);
  std::vector<double> w(radius + 1);
  for (int t = 0; t <= radius; ++t) w[t] = full[radius + t] / s;
  return w;
}

//! scipy 'reflect' boundary (half-sample symmetric, period 2n): ... c b a | a b c ... | c b a ...
inline long reflect_index(long i, long n) {
  const long p = 2 * n;
  i %= p;
  if (i < 0) i += p;
  return i < n ? i : p - 1 - i;
}

}  // namespace stemflow::ops::npc
