// SPDX-License-Identifier: GPL-3.0-or-later
#include "operators/virtual_image/detector_mask.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <sstream>

#include "pipeline/core/expected.hpp"

namespace stemflow::ops {

void DetectorGeometry::validate(const std::string& who) const {
  auto finite = [&](double v, const char* what) {
    if (!std::isfinite(v)) throw ConfigError(who + ": '" + what + "' must be finite");
  };
  switch (shape) {
    case DetectorShape::kNone:
      break;
    case DetectorShape::kPoint:
      finite(center[0], "center");
      finite(center[1], "center");
      break;
    case DetectorShape::kCircle:
      finite(center[0], "center");
      finite(center[1], "center");
      if (!(radius > 0) || !std::isfinite(radius)) {
        throw ConfigError(who + ": 'radius' must be > 0, got " + std::to_string(radius));
      }
      break;
    case DetectorShape::kAnnulus:
      finite(center[0], "center");
      finite(center[1], "center");
      if (!(radii[0] >= 0) || !(radii[0] < radii[1]) || !std::isfinite(radii[1])) {
        throw ConfigError(who + ": 'radii' must be [inner, outer] with 0 <= inner < outer, got [" +
                          std::to_string(radii[0]) + ", " + std::to_string(radii[1]) + "]");
      }
      break;
    case DetectorShape::kRectangle:
      for (double b : bounds) finite(b, "bounds");
      if (bounds[0] < 0 || bounds[2] < 0) {
        throw ConfigError(who + ": 'bounds' must not be negative (Python would wrap the index)");
      }
      if (!(bounds[0] <= bounds[1]) || !(bounds[2] <= bounds[3])) {
        throw ConfigError(who +
                          ": 'bounds' must be [qx_min, qx_max, qy_min, qy_max] with min <= max");
      }
      break;
    case DetectorShape::kMask:
      if (mask.empty() || mask.size() != std::size_t{mask_rows} * mask_cols) {
        throw ConfigError(who + ": 'mask' is empty or not two-dimensional");
      }
      for (double w : mask) {
        if (!std::isfinite(w)) throw ConfigError(who + ": 'mask' contains NaN or infinity");
      }
      break;
  }
}

DetectorMask::DetectorMask(const DetectorGeometry& g,
                           std::uint32_t rows,
                           std::uint32_t cols,
                           const std::string& who)
    : rows_(rows), cols_(cols) {
  g.validate(who);
  std::vector<std::uint8_t> inside(std::size_t{rows} * cols, 0);
  auto r2 = [&](std::uint32_t i, std::uint32_t j) {
    const double dx = double(i) - g.center[0];
    const double dy = double(j) - g.center[1];
    return dx * dx + dy * dy;
  };
  switch (g.shape) {
    case DetectorShape::kNone:
      std::fill(inside.begin(), inside.end(), 1);
      break;
    case DetectorShape::kPoint: {
      // Python's int() truncates toward zero.
      const double ti = std::trunc(g.center[0]);
      const double tj = std::trunc(g.center[1]);
      if (ti < 0 || tj < 0 || ti >= rows || tj >= cols) {
        throw ConfigError(who + ": point detector at (" + std::to_string(g.center[0]) + ", " +
                          std::to_string(g.center[1]) + ") is outside the " + std::to_string(rows) +
                          "x" + std::to_string(cols) + " frame");
      }
      inside[std::size_t(ti) * cols + std::size_t(tj)] = 1;
      break;
    }
    case DetectorShape::kCircle: {
      const double rr = g.radius * g.radius;
      for (std::uint32_t i = 0; i < rows; ++i)
        for (std::uint32_t j = 0; j < cols; ++j) inside[std::size_t(i) * cols + j] = r2(i, j) < rr;
      break;
    }
    case DetectorShape::kAnnulus: {
      const double ri = g.radii[0] * g.radii[0];
      const double ro = g.radii[1] * g.radii[1];
      for (std::uint32_t i = 0; i < rows; ++i)
        for (std::uint32_t j = 0; j < cols; ++j) {
          const double d = r2(i, j);
          inside[std::size_t(i) * cols + j] = d > ri && d < ro;
        }
      break;
    }
    case DetectorShape::kRectangle: {
      // numpy's round is half-to-even, which nearbyint gives in the default rounding mode; slices
      // past the end are clamped, as Python's are.
      auto clamp_round = [](double v, std::uint32_t n) {
        return static_cast<std::uint32_t>(std::min<double>(std::nearbyint(v), n));
      };
      const auto r0 = clamp_round(g.bounds[0], rows), r1 = clamp_round(g.bounds[1], rows);
      const auto c0 = clamp_round(g.bounds[2], cols), c1 = clamp_round(g.bounds[3], cols);
      for (std::uint32_t i = r0; i < r1; ++i)
        for (std::uint32_t j = c0; j < c1; ++j) inside[std::size_t(i) * cols + j] = 1;
      break;
    }
    case DetectorShape::kMask: {
      if (g.mask_rows != rows || g.mask_cols != cols) {
        throw ConfigError(who + ": mask is " + std::to_string(g.mask_rows) + "x" +
                          std::to_string(g.mask_cols) + " but frames are " + std::to_string(rows) +
                          "x" + std::to_string(cols));
      }
      bool all_binary = true;
      for (double w : g.mask) all_binary = all_binary && (w == 0.0 || w == 1.0);
      if (!all_binary) {
        binary_ = false;
        for (std::size_t k = 0; k < g.mask.size(); ++k) {
          if (g.mask[k] != 0.0) weights_.push_back({static_cast<std::uint32_t>(k), g.mask[k]});
        }
        return;
      }
      for (std::size_t k = 0; k < g.mask.size(); ++k) inside[k] = g.mask[k] == 1.0;
      break;
    }
  }
  add_binary(inside);
}

void DetectorMask::add_binary(const std::vector<std::uint8_t>& inside) {
  for (std::uint32_t i = 0; i < rows_; ++i) {
    std::uint32_t j = 0;
    while (j < cols_) {
      while (j < cols_ && !inside[std::size_t(i) * cols_ + j]) ++j;
      const std::uint32_t begin = j;
      while (j < cols_ && inside[std::size_t(i) * cols_ + j]) ++j;
      if (j > begin) spans_.push_back({i, begin, j});
    }
  }
}

std::vector<double> DetectorMask::dense() const {
  std::vector<double> out(std::size_t{rows_} * cols_, 0.0);
  for (const auto& s : spans_)
    for (std::uint32_t j = s.col_begin; j < s.col_end; ++j)
      out[std::size_t(s.row) * cols_ + j] = 1.0;
  for (const auto& w : weights_) out[w.offset] = w.weight;
  return out;
}

std::size_t DetectorMask::pixel_count() const {
  std::size_t n = weights_.size();
  for (const auto& s : spans_) n += s.col_end - s.col_begin;
  return n;
}

std::string describe(const DetectorGeometry& g) {
  std::ostringstream os;
  const auto pair = [&](const auto& a) { os << "[" << a[0] << ", " << a[1] << "]"; };
  switch (g.shape) {
    case DetectorShape::kNone:
      os << "whole frame";
      break;
    case DetectorShape::kPoint:
      os << "point center ";
      pair(g.center);
      break;
    case DetectorShape::kCircle:
      os << "circle center ";
      pair(g.center);
      os << " radius " << g.radius;
      break;
    case DetectorShape::kAnnulus:
      os << "annulus center ";
      pair(g.center);
      os << " radii ";
      pair(g.radii);
      break;
    case DetectorShape::kRectangle:
      os << "rectangle bounds [" << g.bounds[0] << ", " << g.bounds[1] << ", " << g.bounds[2]
         << ", " << g.bounds[3] << "]";
      break;
    case DetectorShape::kMask:
      os << "mask " << g.mask_rows << "x" << g.mask_cols;
      break;
  }
  return os.str();
}

bool warn_if_covers_nothing(const DetectorMask& mask,
                            const DetectorGeometry& geometry,
                            std::string_view type,
                            std::string_view name) {
  if (mask.pixel_count() > 0) return false;
  spdlog::warn(
      "operator '{}' ({}): the detector {} covers no pixel of the {}x{} frame (qx = row, qy = "
      "column, from 0): its {} will be {}",
      name,
      type,
      describe(geometry),
      mask.rows(),
      mask.cols(),
      type == "center_of_mass" ? "centre of mass" : "image",
      type == "center_of_mass" ? "NaN everywhere" : "zero everywhere");
  return true;
}

}  // namespace stemflow::ops
