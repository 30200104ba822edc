// SPDX-License-Identifier: GPL-3.0-or-later
// Small dense linear least squares by the normal equations, for the scan-wide and per-frame fits of
// origin, strain_map and dpc (at most 6 unknowns: a parabola). Header-only: the per-frame lattice
// fit inlines it.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <utility>

namespace stemflow::ops {

//! Accumulates sum(w * a a^T) and sum(w * a b) for rows a (N unknowns) and M right-hand sides b.
template <std::size_t N, std::size_t M = 1>
struct NormalEquations {
  std::array<std::array<double, N>, N> ata{};
  std::array<std::array<double, M>, N> atb{};

  void add(const std::array<double, N>& a, const std::array<double, M>& b, double w = 1.0) {
    for (std::size_t i = 0; i < N; ++i) {
      const double wa = w * a[i];
      for (std::size_t j = i; j < N; ++j) ata[i][j] += wa * a[j];
      for (std::size_t k = 0; k < M; ++k) atb[i][k] += wa * b[k];
    }
  }

  //! The solution x (N x M), or false when the system is singular (relative pivot < 1e-12).
  bool solve(std::array<std::array<double, M>, N>& x) const {
    auto a = ata;
    for (std::size_t i = 0; i < N; ++i) {
      for (std::size_t j = 0; j < i; ++j) a[i][j] = a[j][i];
    }
    x = atb;
    double scale = 0;
    for (std::size_t i = 0; i < N; ++i) scale = std::max(scale, std::abs(a[i][i]));
    if (!(scale > 0)) return false;
    for (std::size_t c = 0; c < N; ++c) {
      std::size_t p = c;
      for (std::size_t r = c + 1; r < N; ++r) {
        if (std::abs(a[r][c]) > std::abs(a[p][c])) p = r;
      }
      if (!(std::abs(a[p][c]) > 1e-12 * scale)) return false;
      std::swap(a[p], a[c]);
      std::swap(x[p], x[c]);
      for (std::size_t r = 0; r < N; ++r) {
        if (r == c) continue;
        const double f = a[r][c] / a[c][c];
        if (f == 0) continue;
        for (std::size_t k = c; k < N; ++k) a[r][k] -= f * a[c][k];
        for (std::size_t k = 0; k < M; ++k) x[r][k] -= f * x[c][k];
      }
    }
    for (std::size_t c = 0; c < N; ++c) {
      for (std::size_t k = 0; k < M; ++k) x[c][k] /= a[c][c];
    }
    return true;
  }
};

}  // namespace stemflow::ops
