// SPDX-License-Identifier: GPL-3.0-or-later
// origin in the registry: its keys and its construction from a configured table.
#include <memory>

#include "operators/operator_type.hpp"
#include "operators/origin/origin.hpp"
#include "pipeline/core/expected.hpp"

namespace stemflow::ops {

OperatorType origin_type() {
  using config::at_least, config::between, config::positive, config::KeyType;
  return {
      .name = "origin",
      .description =
          "The unscattered beam's position per frame, py4DSTEM 0.14.18's ways: mode = \"bragg\": "
          "the brightest peak of a bragg_disks operator (BraggVectors.measure_origin), "
          "optionally within search_radius of center; mode = \"com\": get_origin (maximum of "
          "the pattern smoothed with a Gaussian of sigma radius, then the centre of mass inside "
          "radius * rscale of it). At series end, fit_origin's fit over the scan. Outputs "
          "<name>_qx0, <name>_qy0 per frame (NaN where there is no peak or no intensity) and the "
          "RealSlices <name>_qx0_fit, <name>_qy0_fit.",
      .keys =
          {
              {"mode",
               KeyType::kString,
               "\"bragg\"",
               "",
               "bragg: brightest Bragg peak; com: centre of mass of the central disk",
               {"bragg", "com"}},
              {"bragg",
               KeyType::kString,
               "-",
               "",
               "mode = \"bragg\": the name of a bragg_disks operator earlier in [[operators]]"},
              {"center",
               KeyType::kFloatArray,
               "-",
               "px",
               "[qx, qy] expected centre for search_radius (default: the frame's centre)"},
              {"search_radius",
               KeyType::kFloat,
               "0",
               "px",
               "mode = \"bragg\": only peaks this close to center; 0 = every peak",
               {},
               at_least(0)},
              {"radius",
               KeyType::kFloat,
               "-",
               "px",
               "mode = \"com\": the central disk's radius r (Gaussian sigma and mask radius)",
               {},
               between(0.1, 1000)},
              {"rscale",
               KeyType::kFloat,
               "1.2",
               "",
               "mode = \"com\": the centre of mass is taken inside radius * rscale",
               {},
               between(0.1, 100)},
              {"fit",
               KeyType::kString,
               "\"plane\"",
               "",
               "fit_origin's function at series end: plane, parabola, constant, none",
               {"plane", "parabola", "constant", "none"}},
          },
      .build =
          [](const config::OperatorConfig& oc, const config::Config&) {
            const auto& k = oc.params;
            OriginParams p;
            p.mode = k.get_string("mode") == "com" ? OriginMode::kCom : OriginMode::kBragg;
            if (p.mode == OriginMode::kBragg) {
              if (!k.has("bragg")) {
                throw ConfigError(k.where("bragg") +
                                  ": mode = \"bragg\" needs the name of a bragg_disks operator");
              }
              p.bragg = k.get_string("bragg");
              p.bragg_where = k.where("bragg");
            } else {
              if (!k.has("radius")) {
                throw ConfigError(k.where("radius") +
                                  ": mode = \"com\" needs the central disk's radius");
              }
              p.radius = k.get_double("radius");
            }
            if (k.has("center")) {
              const auto c = k.get_doubles_n<2>("center");
              p.has_center = true;
              p.center_qx = c[0];
              p.center_qy = c[1];
            }
            p.search_radius = k.get_double("search_radius");
            p.rscale = k.get_double("rscale");
            const auto fit = k.get_string("fit");
            p.fit = fit == "plane"      ? OriginFit::kPlane
                    : fit == "parabola" ? OriginFit::kParabola
                    : fit == "constant" ? OriginFit::kConstant
                                        : OriginFit::kNone;
            return BuiltOperator{std::make_unique<OriginOp>(oc.name, std::move(p)), {}};
          },
  };
}

}  // namespace stemflow::ops
