// SPDX-License-Identifier: GPL-3.0-or-later
#include "operators/center_of_mass/center_of_mass.hpp"

#include <oneapi/tbb/parallel_for.h>

#include <cmath>
#include <limits>

#include "operators/virtual_image/virtual_image_cpu.hpp"

namespace stemflow::ops {

CenterOfMassOp::CenterOfMassOp(std::string name, DetectorGeometry region)
    : Operator(std::move(name)), region_(std::move(region)) {
  region_.validate("operator '" + this->name() + "'");
}

void CenterOfMassOp::start(const SeriesHeader& series) {
  mask_.emplace(region_, series.frame_rows, series.frame_cols, "operator '" + name() + "'");
  warn_if_covers_nothing(*mask_, region_, type(), name());
  dtype_ = series.dtype;
}

OutputSpec CenterOfMassOp::outputs() const {
  return {{{"qx", "px"}, {"qy", "px"}, {"intensity", "counts"}}, 0};
}

void CenterOfMassOp::process(const FrameBatch& batch, OperatorResults& out) const {
  const DetectorMask& mask = *mask_;
  visit_dtype(dtype_, [&]<class PixelT>() {
    tbb::parallel_for(tbb::blocked_range<std::uint32_t>(0, batch.count, 8), [&](const auto& r) {
      for (std::uint32_t i = r.begin(); i < r.end(); ++i) {
        const Moments m = masked_moments(batch.frame<PixelT>(i), mask);
        auto v = out.frame_scalars(i);
        constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
        v[0] = m.sum != 0 ? m.sum_qx / m.sum : kNaN;
        v[1] = m.sum != 0 ? m.sum_qy / m.sum : kNaN;
        v[2] = m.sum;
        out.failed[i] =
            !std::isfinite(m.sum) || !std::isfinite(m.sum_qx) || !std::isfinite(m.sum_qy);
      }
    });
  });
}

}  // namespace stemflow::ops
