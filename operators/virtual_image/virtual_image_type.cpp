// SPDX-License-Identifier: GPL-3.0-or-later
// virtual_image in the registry: its keys and its construction from a configured table.
#include <memory>

#include "operators/operator_type.hpp"
#include "operators/virtual_image/detector_config.hpp"
#include "operators/virtual_image/virtual_image.hpp"

namespace stemflow::ops {

OperatorType virtual_image_type() {
  return {
      .name = "virtual_image",
      .description =
          "A virtual detector: per frame sum(frame * mask) in float64, py4DSTEM's mask "
          "semantics. Output: an (Rx, Ry) image named after the operator.",
      .keys = detector_keys("", {"point", "circle", "annulus", "rectangle", "mask"}),
      .build =
          [](const config::OperatorConfig& oc, const config::Config& config) {
            return BuiltOperator{
                std::make_unique<VirtualImageOp>(oc.name, detector_geometry(oc.params, config)),
                {}};
          },
  };
}

}  // namespace stemflow::ops
