// SPDX-License-Identifier: GPL-3.0-or-later
#include "operators/virtual_image/virtual_image.hpp"

#include <oneapi/tbb/parallel_for.h>

#include <cmath>

#include "operators/virtual_image/virtual_image_cpu.hpp"

namespace stemflow::ops {

VirtualImageOp::VirtualImageOp(std::string name, DetectorGeometry geometry)
    : Operator(std::move(name)), geometry_(std::move(geometry)) {
  if (geometry_.shape == DetectorShape::kNone) {
    throw ConfigError("operator '" + this->name() + "': virtual_image needs a detector");
  }
  geometry_.validate("operator '" + this->name() + "'");
}

void VirtualImageOp::start(const SeriesHeader& series) {
  mask_.emplace(geometry_, series.frame_rows, series.frame_cols, "operator '" + name() + "'");
  warn_if_covers_nothing(*mask_, geometry_, type(), name());
  dtype_ = series.dtype;
}

OutputSpec VirtualImageOp::outputs() const { return {{{"", "counts"}}, 0}; }

void VirtualImageOp::process(const FrameBatch& batch, OperatorResults& out) const {
  const DetectorMask& mask = *mask_;
  visit_dtype(dtype_, [&]<class PixelT>() {
    // Frames are independent; a grain of 8 frames amortises the task overhead for small masks.
    tbb::parallel_for(tbb::blocked_range<std::uint32_t>(0, batch.count, 8), [&](const auto& r) {
      for (std::uint32_t i = r.begin(); i < r.end(); ++i) {
        const double v = masked_sum(batch.frame<PixelT>(i), mask);
        out.frame_scalars(i)[0] = v;
        out.failed[i] = !std::isfinite(v);
      }
    });
  });
}

}  // namespace stemflow::ops
