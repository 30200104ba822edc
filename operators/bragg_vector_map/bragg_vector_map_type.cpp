// SPDX-License-Identifier: GPL-3.0-or-later
// bragg_vector_map in the registry: its keys and its construction from a configured table.
#include <memory>

#include "operators/bragg_vector_map/bragg_vector_map.hpp"
#include "operators/operator_type.hpp"

namespace stemflow::ops {

OperatorType bragg_vector_map_type() {
  using config::between, config::KeyType;
  return {
      .name = "bragg_vector_map",
      .description =
          "py4DSTEM's Bragg vector map (BraggVectors.histogram, get_bvm): the peaks of a "
          "bragg_disks operator, shifted by an origin operator's origin, accumulated with "
          "bilinear weights on the detector grid while the scan runs (live on the dashboard); "
          "at series end rebuilt with the fitted origin, centred on its mean as "
          "histogram(mode=\"cal\"). Outputs the DiffractionSlice <name>.",
      .keys =
          {
              {"bragg",
               KeyType::kString,
               "",
               "",
               "the name of a bragg_disks operator earlier in [[operators]]"},
              {"origin",
               KeyType::kString,
               "-",
               "",
               "the name of an origin operator earlier in [[operators]]; without it the raw "
               "peaks are accumulated (histogram(mode=\"raw\"))"},
              {"center",
               KeyType::kFloatArray,
               "-",
               "px",
               "[qx, qy] where the origin is put (default: the frame's centre while the scan "
               "runs, the mean fitted origin at the end)"},
              {"sampling",
               KeyType::kFloat,
               "1.0",
               "bins/px",
               "bins per detector pixel (py4DSTEM's sampling)",
               {},
               between(0.1, 8)},
          },
      .build =
          [](const config::OperatorConfig& oc, const config::Config&) {
            const auto& k = oc.params;
            BraggVectorMapParams p;
            p.bragg = k.get_string("bragg");
            p.bragg_where = k.where("bragg");
            if (k.has("origin")) {
              p.origin = k.get_string("origin");
              p.origin_where = k.where("origin");
            }
            if (k.has("center")) {
              const auto c = k.get_doubles_n<2>("center");
              p.has_center = true;
              p.center_qx = c[0];
              p.center_qy = c[1];
            }
            p.sampling = k.get_double("sampling");
            return BuiltOperator{std::make_unique<BraggVectorMapOp>(oc.name, std::move(p)), {}};
          },
  };
}

}  // namespace stemflow::ops
