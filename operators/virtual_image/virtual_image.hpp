// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <optional>

#include "operators/virtual_image/detector_mask.hpp"
#include "pipeline/core/expected.hpp"
#include "pipeline/core/operator.hpp"

namespace stemflow::ops {

//! VirtualImageOp: a virtual detector.
//! Inputs:  frames of any dtype.
//! Outputs: one scalar per frame, sum(frame * mask) in float64: an (Rx, Ry) image named after the
//!          operator. A frame whose sum is not finite (NaN pixels in f32 data) is marked failed.
//! Parameters: DetectorGeometry (point, circle, annulus, rectangle, mask; py4DSTEM semantics).
//! Threading: process() is const and runs concurrently on different batches; the mask is built
//!          once per series in start() and only read afterwards.
class VirtualImageOp final : public Operator {
 public:
  VirtualImageOp(std::string name, DetectorGeometry geometry);
  std::string_view type() const override { return "virtual_image"; }
  void start(const SeriesHeader& series) override;
  OutputSpec outputs() const override;
  void process(const FrameBatch& batch, OperatorResults& out) const override;
  //! Its GPU twin (virtual_image/virtual_image_gpu.cpp).
  void offer_device(gpu::DevicePass& pass) const override;

  const DetectorMask& mask() const { return *mask_; }

 private:
  DetectorGeometry geometry_;
  std::optional<DetectorMask> mask_;
  Dtype dtype_ = Dtype::kU16;
};

}  // namespace stemflow::ops
