// SPDX-License-Identifier: GPL-3.0-or-later
// Virtual detector geometry with py4DSTEM's exact mask semantics (DataCube.get_virtual_image,
// make_detector), on the index grid qx = row, qy = column, pixel centres at integers:
//   point      mask[int(qx), int(qy)] = 1 (truncation toward zero)
//   circle     (qx - qx0)^2 + (qy - qy0)^2 < R^2                 (strict)
//   annulus    Ri^2 < r^2 < Ro^2                                  (both strict, Ri < Ro)
//   rectangle  rows [round(qx_min), round(qx_max)) x cols [round(qy_min), round(qy_max)),
//              half-open, round half to even (numpy's round)
//   mask       any frame-shaped weights (bool, integer or float)
// Deliberate differences, each an error here instead of a silent surprise: a point outside the
// frame, a rectangle with negative bounds (Python would wrap the index), a mask of another shape.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stemflow::ops {

enum class DetectorShape { kNone, kPoint, kCircle, kAnnulus, kRectangle, kMask };

struct DetectorGeometry {
  DetectorShape shape = DetectorShape::kNone;  // kNone = the whole frame
  std::array<double, 2> center{};              // point, circle, annulus
  double radius = 0;                           // circle
  std::array<double, 2> radii{};               // annulus (inner, outer)
  std::array<double, 4> bounds{};              // rectangle (qx_min, qx_max, qy_min, qy_max)
  std::vector<double> mask;                    // mask: rows * cols weights, row-major
  std::uint32_t mask_rows = 0;
  std::uint32_t mask_cols = 0;

  //! Checks the values (radius > 0, inner < outer, ...); throws ConfigError naming the parameter.
  void validate(const std::string& who) const;
};

//! A run of pixels of one row with weight 1: columns [col_begin, col_end).
struct RowSpan {
  std::uint32_t row;
  std::uint32_t col_begin;
  std::uint32_t col_end;
};

//! A pixel with a non-unit weight.
struct WeightedPixel {
  std::uint32_t offset;  // row * cols + col
  double weight;
};

//! A detector rasterised for one frame shape. Binary masks are kept as row spans (cost proportional
//! to the detector's area, summed exactly in integers for integer pixels); weighted masks as a list
//! of non-zero pixels summed in float64.
class DetectorMask {
 public:
  //! Throws ConfigError if the geometry does not fit the frame.
  DetectorMask(const DetectorGeometry& geometry,
               std::uint32_t rows,
               std::uint32_t cols,
               const std::string& who);

  bool binary() const { return binary_; }
  std::span<const RowSpan> spans() const { return spans_; }
  std::span<const WeightedPixel> weights() const { return weights_; }
  std::uint32_t rows() const { return rows_; }
  std::uint32_t cols() const { return cols_; }
  //! The mask as a dense rows x cols array (for tests, the GPU path and the dashboard).
  std::vector<double> dense() const;
  //! Number of pixels with non-zero weight.
  std::size_t pixel_count() const;

 private:
  void add_binary(const std::vector<std::uint8_t>& inside);

  std::uint32_t rows_;
  std::uint32_t cols_;
  bool binary_ = true;
  std::vector<RowSpan> spans_;
  std::vector<WeightedPixel> weights_;
};

//! The geometry as the configuration writes it: "circle center [200, 200] radius 5".
std::string describe(const DetectorGeometry& geometry);

//! Warns (once per series, at start) when a detector region covers no pixel of the frame: it lies
//! entirely outside the frame, or is empty. Its image would be all zero (the centre of mass all
//! NaN) without a word otherwise; a region only partly inside is legitimate and not reported.
//! Returns whether it warned.
bool warn_if_covers_nothing(const DetectorMask& mask,
                            const DetectorGeometry& geometry,
                            std::string_view type,
                            std::string_view name);

}  // namespace stemflow::ops
