// SPDX-License-Identifier: GPL-3.0-or-later
#include "operators/origin/origin.hpp"

#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/parallel_for.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "operators/origin/least_squares.hpp"
#include "pipeline/core/expected.hpp"
#include "pipeline/core/result_store.hpp"

namespace stemflow::ops {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

//! scipy.ndimage's Gaussian kernel: radius int(4 sigma + 0.5), normalised.
std::vector<double> gaussian_kernel(double sigma) {
  const int half = static_cast<int>(4.0 * sigma + 0.5);
  std::vector<double> k(2 * half + 1);
  double sum = 0;
  for (int x = -half; x <= half; ++x) sum += k[x + half] = std::exp(-0.5 * x * x / (sigma * sigma));
  for (double& v : k) v /= sum;
  return k;
}

//! scipy stores each pass in the input's dtype: an integer pattern's smoothed values are
//! truncated toward zero (and clipped to the type) after each axis.
template <class PixelT>
double store_as(double v) {
  if constexpr (std::is_integral_v<PixelT>) {
    v = std::trunc(v);
    return std::clamp(v, 0.0, double(std::numeric_limits<PixelT>::max()));
  } else {
    return double(static_cast<PixelT>(v));
  }
}

template <std::size_t N>
std::array<double, N> basis(OriginFit fit, double x, double y) {
  std::array<double, N> a{};
  a[0] = 1;
  if constexpr (N >= 3) {
    a[1] = x;
    a[2] = y;
  }
  if constexpr (N == 6) {
    a[3] = x * x;
    a[4] = y * y;
    a[5] = x * y;
  }
  (void)fit;
  return a;
}

template <std::size_t N>
std::vector<double> fit_n(const std::vector<double>& v,
                          std::uint32_t rows,
                          std::uint32_t cols,
                          OriginFit fit) {
  // fit_2D's coordinates: linspace(0, 1) along each scan axis.
  auto coord = [](std::uint32_t i, std::uint32_t n) { return n > 1 ? double(i) / (n - 1) : 0.0; };
  NormalEquations<N> ne;
  std::size_t used = 0;
  for (std::uint32_t r = 0; r < rows; ++r) {
    for (std::uint32_t c = 0; c < cols; ++c) {
      const double y = v[std::size_t(r) * cols + c];
      if (!std::isfinite(y)) continue;
      ne.add(basis<N>(fit, coord(r, rows), coord(c, cols)), {y});
      ++used;
    }
  }
  std::vector<double> out(v.size(), kNaN);
  std::array<std::array<double, 1>, N> x{};
  if (used < N || !ne.solve(x)) return out;
  for (std::uint32_t r = 0; r < rows; ++r) {
    for (std::uint32_t c = 0; c < cols; ++c) {
      const auto a = basis<N>(fit, coord(r, rows), coord(c, cols));
      double s = 0;
      for (std::size_t i = 0; i < N; ++i) s += a[i] * x[i][0];
      out[std::size_t(r) * cols + c] = s;
    }
  }
  return out;
}

}  // namespace

std::vector<double> fit_scan_surface(const std::vector<double>& values,
                                     std::uint32_t rows,
                                     std::uint32_t cols,
                                     OriginFit fit) {
  switch (fit) {
    case OriginFit::kConstant:
      return fit_n<1>(values, rows, cols, fit);
    case OriginFit::kPlane:
      return fit_n<3>(values, rows, cols, fit);
    case OriginFit::kParabola:
      return fit_n<6>(values, rows, cols, fit);
    case OriginFit::kNone:
      break;
  }
  return std::vector<double>(values.size(), kNaN);
}

OriginOp::OriginOp(std::string name, OriginParams p)
    : Operator(std::move(name)), p_(std::move(p)) {}

std::vector<OperatorInput> OriginOp::inputs() const {
  if (p_.mode != OriginMode::kBragg) return {};
  return {{"bragg", p_.bragg_where, p_.bragg, "bragg_disks"}};
}

void OriginOp::start(const SeriesHeader& series) {
  series_ = series;
  if (!p_.has_center) {
    p_.center_qx = series.frame_rows / 2.0;
    p_.center_qy = series.frame_cols / 2.0;
  }
  if (p_.mode == OriginMode::kCom) kernel_ = gaussian_kernel(p_.radius);
}

template <class PixelT>
void OriginOp::com_frame(const PixelT* frame,
                         std::vector<double>& s,
                         double& qx0,
                         double& qy0) const {
  const int rows = static_cast<int>(series_.frame_rows);
  const int cols = static_cast<int>(series_.frame_cols);
  const int half = static_cast<int>(kernel_.size() / 2);
  s.resize(std::size_t(rows) * cols + std::size_t(cols));
  double* tmp = s.data();
  double* acc = s.data() + std::size_t(rows) * cols;  // one row
  // Axis 0 (rows) first, then axis 1, each with "nearest" edges, as gaussian_filter does; the
  // loops run along rows so that they vectorise (the order of the sums differs from scipy's only
  // in rounding, far below the truncation to the pattern's dtype).
  for (int r = 0; r < rows; ++r) {
    // The kernel is symmetric: pairs of taps share a weight, as scipy's correlate1d sums them.
    const PixelT* mid = frame + std::size_t(r) * cols;
    for (int c = 0; c < cols; ++c) acc[c] = kernel_[half] * double(mid[c]);
    for (int k = 1; k <= half; ++k) {
      const double w = kernel_[half + k];
      const PixelT* up = frame + std::size_t(std::max(r - k, 0)) * cols;
      const PixelT* dn = frame + std::size_t(std::min(r + k, rows - 1)) * cols;
      for (int c = 0; c < cols; ++c) acc[c] += w * (double(up[c]) + double(dn[c]));
    }
    double* t = tmp + std::size_t(r) * cols;
    for (int c = 0; c < cols; ++c) t[c] = store_as<PixelT>(acc[c]);
  }
  std::size_t best = 0;
  double best_v = -std::numeric_limits<double>::infinity();
  const int lo = std::min(half, cols), hi = std::max(lo, cols - half);  // [lo, hi): no clamping
  for (int r = 0; r < rows; ++r) {
    const double* t = tmp + std::size_t(r) * cols;
    for (int c = lo; c < hi; ++c) acc[c] = kernel_[half] * t[c];
    for (int k = 1; k <= half; ++k) {
      const double w = kernel_[half + k];
      for (int c = lo; c < hi; ++c) acc[c] += w * (t[c - k] + t[c + k]);
    }
    for (int c = 0; c < cols; ++c) {
      if (c >= lo && c < hi) continue;
      double a = 0;
      for (int k = -half; k <= half; ++k)
        a += kernel_[k + half] * t[std::clamp(c + k, 0, cols - 1)];
      acc[c] = a;
    }
    for (int c = 0; c < cols; ++c) {
      const double v = store_as<PixelT>(acc[c]);
      if (v > best_v) {  // the first maximum in C order, as np.argmax
        best_v = v;
        best = std::size_t(r) * cols + c;
      }
    }
  }
  // The centre of mass inside r * rscale of the maximum: only its bounding box can hold pixels.
  const int mr = int(best / cols), mc = int(best % cols);
  const double lim = p_.radius * p_.rscale;
  const int reach = int(std::ceil(lim)) + 1;
  double sum = 0, sx = 0, sy = 0;
  for (int r = std::max(0, mr - reach); r <= std::min(rows - 1, mr + reach); ++r) {
    for (int c = std::max(0, mc - reach); c <= std::min(cols - 1, mc + reach); ++c) {
      if (!(std::hypot(double(r - mr), double(c - mc)) < lim)) continue;
      const double v = double(frame[std::size_t(r) * cols + c]);
      sum += v;
      sx += v * r;
      sy += v * c;
    }
  }
  qx0 = sum != 0 ? sx / sum : kNaN;
  qy0 = sum != 0 ? sy / sum : kNaN;
}

void OriginOp::process(const FrameBatch& batch, OperatorResults& out) const {
  if (p_.mode == OriginMode::kBragg) {
    const OperatorResults& in = batch.results[input_indices()[0]];
    const double r2max = p_.search_radius * p_.search_radius;
    for (std::uint32_t i = 0; i < batch.count; ++i) {
      auto v = out.frame_scalars(i);
      v[0] = v[1] = kNaN;
      if (in.failed[i]) {
        out.failed[i] = 1;  // no peaks to read: the input failed on this frame
        continue;
      }
      double best = -std::numeric_limits<double>::infinity();
      for (const Peak& pk : in.frame_peaks(i)) {
        if (p_.search_radius > 0) {
          const double dx = pk.qx - p_.center_qx, dy = pk.qy - p_.center_qy;
          if (dx * dx + dy * dy > r2max) continue;
        }
        if (pk.intensity > best) {  // the first of equal maxima, as np.argmax
          best = pk.intensity;
          v[0] = pk.qx;
          v[1] = pk.qy;
        }
      }
    }
    return;
  }
  visit_dtype(series_.dtype, [&]<class PixelT>() {
    tbb::parallel_for(tbb::blocked_range<std::uint32_t>(0, batch.count, 4), [&](const auto& r) {
      auto& s = scratch_.local();
      for (std::uint32_t i = r.begin(); i < r.end(); ++i) {
        auto v = out.frame_scalars(i);
        com_frame(batch.frame<PixelT>(i), s, v[0], v[1]);
      }
    });
  });
}

std::vector<SeriesImage> OriginOp::conclude(const ResultStore& store) {
  if (p_.fit == OriginFit::kNone) return {};
  const auto& outs = store.outputs();
  std::size_t self = 0;
  while (self < outs.size() && outs[self].name != name()) ++self;
  if (self == outs.size()) return {};
  const auto& h = store.series();
  std::vector<SeriesImage> images;
  std::size_t unmeasured = 0;
  for (double v : store.map(self, 0)) unmeasured += !std::isfinite(v);
  if (unmeasured > 0) {
    spdlog::info("operator '{}': no origin at {} of {} positions (NaN), left out of the fit",
                 name(),
                 unmeasured,
                 h.scan_size());
  }
  for (std::size_t k = 0; k < 2; ++k) {
    images.push_back({k == 0 ? "qx0_fit" : "qy0_fit",
                      h.scan_rows,
                      h.scan_cols,
                      fit_scan_surface(store.map(self, k), h.scan_rows, h.scan_cols, p_.fit),
                      "px",
                      ImageSpace::kReal});
  }
  return images;
}

}  // namespace stemflow::ops
