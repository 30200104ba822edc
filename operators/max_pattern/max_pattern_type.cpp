// SPDX-License-Identifier: GPL-3.0-or-later
// max_pattern in the registry: no keys.
#include <memory>

#include "operators/max_pattern/max_pattern.hpp"
#include "operators/operator_type.hpp"

namespace stemflow::ops {

OperatorType max_pattern_type() {
  return {
      .name = MaxPatternOp::kType,
      .description =
          "The maximum diffraction pattern of the series (float64). Output: "
          "DiffractionSlice <name>.",
      .keys = {},
      .build =
          [](const config::OperatorConfig& oc, const config::Config&) {
            return BuiltOperator{std::make_unique<MaxPatternOp>(oc.name), {}};
          },
  };
}

}  // namespace stemflow::ops
