// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pipeline/core/operator.hpp"

namespace stemflow::ops {

struct StrainMapParams {
  std::string bragg, bragg_where;    // the bragg_disks operator whose peaks are fitted
  std::array<double, 2> g1{}, g2{};  // approximate lattice vectors [qx, qy], px
  std::optional<std::array<std::uint32_t, 4>> reference_region;  // [rx0, rx1, ry0, ry1)
  double index_tolerance = 2.0;  // px: a peak farther from every lattice point is unused
  std::uint32_t min_peaks = 5;   // indexed peaks (the central beam included) to fit
};

//! One frame's fitted lattice (py4DSTEM's fit_lattice_vectors).
struct LatticeFit {
  double x0 = 0, y0 = 0, g1x = 0, g1y = 0, g2x = 0, g2y = 0, error = 0;
  std::uint32_t num_peaks = 0;  // peaks indexed
  bool ok = false;
};

//! Indexes `peaks` against the lattice {c + h g1 + k g2} (c: the brightest peak, the origin as
//! BraggVectors.measure_origin finds it), keeping each peak whose nearest lattice point is within
//! `tolerance`, then fits x0, y0, g1, g2 by least squares weighted by intensity as py4DSTEM's
//! fit_lattice_vectors: rows [1, h, k] and [qx, qy] both multiplied by the intensity, error =
//! sum(I |residual|) / sum(I). ok = false with fewer than `min_peaks` indexed peaks or a singular
//! fit (all indices on a line).
LatticeFit fit_lattice(std::span<const Peak> peaks,
                       const std::array<double, 2>& g1,
                       const std::array<double, 2>& g2,
                       double tolerance,
                       std::uint32_t min_peaks);

//! The strain of one fitted lattice relative to the reference (py4DSTEM's
//! get_strain_from_reference_g1g2): beta = (M_ref^-1 M)^T with M the rows [g1; g2]; e_xx = 1 -
//! beta_00, e_yy = 1 - beta_11, e_xy = -(beta_01 + beta_10) / 2, theta = (beta_01 - beta_10) / 2.
std::array<double, 4> strain_from_reference(const std::array<double, 4>& g,
                                            const std::array<double, 4>& ref);

//! StrainMapOp: py4DSTEM 0.14.18's StrainMap from a bragg_disks operator's peaks, while the scan
//! runs.
//! Inputs:  a bragg_disks operator's peaks (a frame whose input failed is failed here too).
//! Outputs: per frame <name>_g1x, _g1y, _g2x, _g2y (the fitted lattice vectors, px), _fit_error
//!          (px), _num_peaks (indexed peaks); the lattice maps are NaN where the frame cannot be
//!          fitted (fewer than min_peaks indexed peaks), and such frames are counted (the log at
//!          series end; _num_peaks says which). Strain: RealSlices <name>_e_xx, _e_yy, _e_xy,
//!          _theta (radians), relative to the reference lattice: the median of the fitted lattice
//!          over reference_region (py4DSTEM's get_reference_g1g2) once all of its frames have
//!          arrived, g1 and g2 until then or without a region; live (preview) and at series end.
//! Threading: process() is const and parallel over the batch's frames (a few dozen peaks each).
class StrainMapOp final : public Operator {
 public:
  StrainMapOp(std::string name, StrainMapParams p);
  std::string_view type() const override { return "strain_map"; }
  void start(const SeriesHeader& series) override;
  OutputSpec outputs() const override;
  std::vector<OperatorInput> inputs() const override;
  void process(const FrameBatch& batch, OperatorResults& out) const override;
  void reduce(const FrameBatch& batch, const ResultStore& store) override;
  std::vector<SeriesImage> preview(const ResultStore& store) const override;
  std::vector<SeriesImage> conclude(const ResultStore& store) override;

  //! The reference lattice [g1x, g1y, g2x, g2y] from the store (the region's median, or g1, g2).
  std::array<double, 4> reference(const ResultStore& store) const;

 private:
  std::vector<SeriesImage> strain_images(const ResultStore& store) const;
  std::size_t self(const ResultStore& store) const;

  StrainMapParams p_;
  SeriesHeader series_{};
  std::uint64_t region_size_ = 0;
  std::uint64_t region_seen_ = 0;  // frames of the region that reached the store
  std::uint64_t unfitted_ = 0;     // frames that reached the store without a lattice
  bool dirty_ = false;
};

}  // namespace stemflow::ops
