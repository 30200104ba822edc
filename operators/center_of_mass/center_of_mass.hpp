// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <optional>

#include "operators/virtual_image/detector_mask.hpp"
#include "pipeline/core/expected.hpp"
#include "pipeline/core/operator.hpp"

namespace stemflow::ops {

//! CenterOfMassOp: per-frame centre of mass (the DPC signal) and total intensity.
//! Inputs:  frames of any dtype.
//! Outputs: three scalars per frame: qx = sum(I*qx)/sum(I), qy = sum(I*qy)/sum(I) (qx = row index,
//!          qy = column index, detector pixels) and intensity = sum(I), all over the optional
//!          detector region (kNone = whole frame). A frame with sum(I) = 0 gets NaN qx, qy (as
//!          numpy gives); a frame with non-finite sums (NaN pixels) is marked failed.
//! Threading: as VirtualImageOp.
class CenterOfMassOp final : public Operator {
 public:
  CenterOfMassOp(std::string name, DetectorGeometry region);
  std::string_view type() const override { return "center_of_mass"; }
  void start(const SeriesHeader& series) override;
  OutputSpec outputs() const override;
  void process(const FrameBatch& batch, OperatorResults& out) const override;
  //! Its GPU twin (center_of_mass/center_of_mass_gpu.cpp).
  void offer_device(gpu::DevicePass& pass) const override;

  //! The region, rasterised for the series (valid after start()); the GPU path sums over it.
  const DetectorMask& mask() const { return *mask_; }

 private:
  DetectorGeometry region_;
  std::optional<DetectorMask> mask_;
  Dtype dtype_ = Dtype::kU16;
};

}  // namespace stemflow::ops
