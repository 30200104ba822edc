// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <oneapi/tbb/enumerable_thread_specific.h>

#include <string>
#include <vector>

#include "pipeline/core/operator.hpp"

namespace stemflow::ops {

enum class OriginMode { kBragg, kCom };
enum class OriginFit { kNone, kConstant, kPlane, kParabola };

struct OriginParams {
  OriginMode mode = OriginMode::kBragg;
  std::string bragg;        // kBragg: the bragg_disks operator read
  std::string bragg_where;  // its key's file:line, for the plan's messages
  bool has_center = false;
  double center_qx = 0, center_qy = 0;  // the expected centre (default: the frame's centre)
  double search_radius = 0;             // kBragg: > 0: only peaks this close to the centre
  double radius = 0;                    // kCom: the central disk's radius r
  double rscale = 1.2;                  // kCom: CoM inside r * rscale of the smoothed maximum
  OriginFit fit = OriginFit::kPlane;
};

//! OriginOp: the unscattered beam's position per frame, py4DSTEM 0.14.18's two ways:
//!   bragg  the brightest peak of a bragg_disks operator's peaks (BraggVectors.measure_origin,
//!          score_method "intensity"), optionally only among peaks within search_radius of the
//!          expected centre;
//!   com    get_origin: the maximum of the pattern smoothed by a Gaussian of sigma r (scipy's
//!          gaussian_filter, mode "nearest", in the pattern's dtype), then the centre of mass of
//!          the pattern inside r * rscale of it.
//! Outputs: per frame <name>_qx0, <name>_qy0 (px, qx = row); NaN where there is no peak (bragg) or
//!          no intensity (com). At series end (conclude) fit_origin's fit over the scan's finite
//!          values, coordinates scaled to [0, 1] as py4DSTEM's fit_2D: RealSlices
//!          <name>_qx0_fit, <name>_qy0_fit.
//! Threading: process() is const and parallel over frames; kCom keeps per-thread scratch.
class OriginOp final : public Operator {
 public:
  OriginOp(std::string name, OriginParams p);
  std::string_view type() const override { return "origin"; }
  void start(const SeriesHeader& series) override;
  OutputSpec outputs() const override { return {{{"qx0", "px"}, {"qy0", "px"}}, 0}; }
  std::vector<OperatorInput> inputs() const override;
  void process(const FrameBatch& batch, OperatorResults& out) const override;
  std::vector<SeriesImage> conclude(const ResultStore& store) override;

 private:
  template <class PixelT>
  void com_frame(const PixelT* frame, std::vector<double>& scratch, double& qx0, double& qy0) const;

  OriginParams p_;
  SeriesHeader series_{};
  std::vector<double> kernel_;  // kCom: the Gaussian's weights, 2 * half + 1
  mutable tbb::enumerable_thread_specific<std::vector<double>> scratch_;  // kCom, per thread
};

//! fit_origin's model over a (rows, cols) map, NaN entries left out: the fitted map, or all NaN
//! when too few finite values determine it.
std::vector<double> fit_scan_surface(const std::vector<double>& values,
                                     std::uint32_t rows,
                                     std::uint32_t cols,
                                     OriginFit fit);

}  // namespace stemflow::ops
