// SPDX-License-Identifier: GPL-3.0-or-later
// dpc in the registry: its keys and its construction from a configured table.
#include <memory>

#include "operators/dpc/dpc.hpp"
#include "operators/operator_type.hpp"

namespace stemflow::ops {

OperatorType dpc_type() {
  using config::between, config::KeyType;
  return {
      .name = "dpc",
      .description =
          "Differential phase contrast from a center_of_mass operator, py4DSTEM 0.14.18's DPC "
          "with unit samplings: the CoM minus its plane fit, the scan/detector rotation and "
          "transpose (given, or least mean |curl| over -89..89 degrees), then the phase by "
          "reconstruct()'s Fourier-integration steps on a padded grid (iDPC) and the divergence "
          "of the rotated CoM (dDPC). Recomputed live every preview_seconds (dashboard) and at "
          "series end. Outputs RealSlices <name>_phase (px^2) and <name>_ddpc (px).",
      .keys =
          {
              {"com",
               KeyType::kString,
               "",
               "",
               "the name of a center_of_mass operator earlier in [[operators]]"},
              {"rotation",
               KeyType::kFloat,
               "-",
               "deg",
               "rotation from detector to scan axes (force_com_rotation); absent: found by least "
               "curl",
               {},
               between(-360, 360)},
              {"transpose",
               KeyType::kBool,
               "-",
               "",
               "detector axes swapped (force_com_transpose); absent: found by least curl"},
              {"fit",
               KeyType::kString,
               "\"plane\"",
               "",
               "the CoM's descan fit subtracted first (fit_function): plane, parabola, "
               "constant, none",
               {"plane", "parabola", "constant", "none"}},
              {"max_iter",
               KeyType::kInt,
               "64",
               "",
               "reconstruct() iterations",
               {},
               between(1, 100000)},
              {"step_size",
               KeyType::kFloat,
               "0.5",
               "",
               "reconstruct()'s initial step size",
               {},
               between(1e-6, 100)},
              {"padding_factor",
               KeyType::kFloat,
               "2.0",
               "",
               "the phase grid is the scan padded by this factor (py4DSTEM's padding_factor)",
               {},
               between(1, 8)},
              {"preview_seconds",
               KeyType::kFloat,
               "2.0",
               "s",
               "the live phase on the dashboard is recomputed at most this often",
               {},
               between(0.1, 3600)},
          },
      .build =
          [](const config::OperatorConfig& oc, const config::Config&) {
            const auto& k = oc.params;
            DpcParams p;
            p.com = k.get_string("com");
            p.com_where = k.where("com");
            if (k.has("rotation")) p.rotation_deg = k.get_double("rotation");
            if (k.has("transpose")) p.transpose = k.get_bool("transpose");
            const auto fit = k.get_string("fit");
            p.fit = fit == "plane"      ? OriginFit::kPlane
                    : fit == "parabola" ? OriginFit::kParabola
                    : fit == "constant" ? OriginFit::kConstant
                                        : OriginFit::kNone;
            p.max_iter = static_cast<std::uint32_t>(k.get_int("max_iter"));
            p.step_size = k.get_double("step_size");
            p.padding_factor = k.get_double("padding_factor");
            p.preview_seconds = k.get_double("preview_seconds");
            return BuiltOperator{std::make_unique<DpcOp>(oc.name, std::move(p)), {}};
          },
  };
}

}  // namespace stemflow::ops
