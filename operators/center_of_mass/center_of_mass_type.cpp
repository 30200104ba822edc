// SPDX-License-Identifier: GPL-3.0-or-later
// center_of_mass in the registry: its keys (virtual_image's detector keys, as an optional region)
// and its construction from a configured table.
#include <memory>

#include "operators/center_of_mass/center_of_mass.hpp"
#include "operators/operator_type.hpp"
#include "operators/virtual_image/detector_config.hpp"

namespace stemflow::ops {

namespace {

std::vector<config::KeySpec> region_keys() {
  auto keys = detector_keys("\"none\"", {"none", "circle", "annulus", "rectangle", "mask"});
  keys[0].description =
      "region the centre of mass is computed in: none (whole frame), circle, annulus, rectangle, "
      "mask";
  return keys;
}

}  // namespace

OperatorType center_of_mass_type() {
  return {
      .name = "center_of_mass",
      .description =
          "Per-frame centre of mass: qx = sum(I*qx)/sum(I), qy = sum(I*qy)/sum(I) and the "
          "total intensity sum(I), optionally inside a detector region. Outputs "
          "<name>_qx, <name>_qy, <name>_intensity.",
      .keys = region_keys(),
      .build =
          [](const config::OperatorConfig& oc, const config::Config& config) {
            return BuiltOperator{
                std::make_unique<CenterOfMassOp>(oc.name, detector_geometry(oc.params, config)),
                {}};
          },
  };
}

}  // namespace stemflow::ops
