// SPDX-License-Identifier: GPL-3.0-or-later
// mean_pattern in the registry: no keys; its image is the mean pattern the dashboard shows.
#include <memory>

#include "operators/mean_pattern/mean_pattern.hpp"
#include "operators/operator_type.hpp"

namespace stemflow::ops {

OperatorType mean_pattern_type() {
  return {
      .name = MeanPatternOp::kType,
      .description =
          "The mean diffraction pattern of the series (float64): what a user looks at to "
          "place detectors. Output: DiffractionSlice <name>.",
      .keys = {},
      .build =
          [](const config::OperatorConfig& oc, const config::Config&) {
            return BuiltOperator{std::make_unique<MeanPatternOp>(oc.name), {}};
          },
      .gives_mean_pattern = true,
  };
}

}  // namespace stemflow::ops
