// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <span>
#include <string>
#include <vector>

#include "pipeline/core/operator.hpp"

namespace stemflow::ops {

struct BraggVectorMapParams {
  std::string bragg, bragg_where;    // the bragg_disks operator whose peaks are accumulated
  std::string origin, origin_where;  // optional: an origin operator (empty: raw peaks)
  bool has_center = false;
  double center_qx = 0, center_qy = 0;  // where the origin is put on the map
  double sampling = 1.0;                // bins per detector pixel
};

//! BraggVectorMapOp: py4DSTEM 0.14.18's Bragg vector map (BraggVectors.histogram / get_bvm): every
//! frame's peaks, shifted by the frame's origin so that it sits at `center`, accumulated on the
//! detector grid (round(Q * sampling) bins) with bilinear weights: intensity * (1 - dx)(1 - dy) to
//! (floor qx, floor qy), ... dx dy to (ceil qx, ceil qy); a peak whose floor or ceil falls off the
//! grid is left out, as py4DSTEM does.
//! Inputs:  a bragg_disks operator's peaks; optionally an origin operator's qx0, qy0 (a frame
//!          whose origin is NaN or whose input failed is left out).
//! Outputs: no per-frame values. Live (preview): the map so far, origin at `center` (default the
//!          frame's centre), measured origins. At series end (conclude) the map is rebuilt from
//!          the stored peaks with the origin operator's fitted origin where it has one, and
//!          `center` defaulting to the mean fitted origin: py4DSTEM's histogram(mode="cal") after
//!          fit_origin. A DiffractionSlice <name>.
//! Threading: the accumulation runs in reduce() (the sink thread, batch order): a few bilinear
//!          updates per peak; process() does nothing.
class BraggVectorMapOp final : public Operator {
 public:
  BraggVectorMapOp(std::string name, BraggVectorMapParams p);
  std::string_view type() const override { return "bragg_vector_map"; }
  void start(const SeriesHeader& series) override;
  OutputSpec outputs() const override { return {}; }
  std::vector<OperatorInput> inputs() const override;
  void process(const FrameBatch&, OperatorResults&) const override {}
  void reduce(const FrameBatch& batch, const ResultStore& store) override;
  std::vector<SeriesImage> preview(const ResultStore& store) const override;
  std::vector<SeriesImage> conclude(const ResultStore& store) override;

  //! Adds one peak list, shifted by -(qx0, qy0) + (cx, cy), to `hist` (bins_x * bins_y).
  static void accumulate(std::vector<double>& hist,
                         std::uint32_t bins_x,
                         std::uint32_t bins_y,
                         double sampling,
                         std::span<const Peak> peaks,
                         double shift_qx,
                         double shift_qy);

 private:
  SeriesImage image(std::vector<double> values) const;

  BraggVectorMapParams p_;
  std::uint32_t bins_x_ = 0, bins_y_ = 0;
  double live_cx_ = 0, live_cy_ = 0;
  std::vector<double> hist_;  // live, measured origins
  std::uint64_t frames_ = 0;
  bool dirty_ = false;
};

}  // namespace stemflow::ops
