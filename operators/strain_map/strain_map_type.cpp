// SPDX-License-Identifier: GPL-3.0-or-later
// strain_map in the registry: its keys and its construction from a configured table.
#include <cmath>
#include <memory>

#include "operators/operator_type.hpp"
#include "operators/strain_map/strain_map.hpp"
#include "pipeline/core/expected.hpp"

namespace stemflow::ops {

OperatorType strain_map_type() {
  using config::at_least, config::between, config::KeyType;
  return {
      .name = "strain_map",
      .description =
          "py4DSTEM's StrainMap while the scan runs: per frame, the peaks of a bragg_disks "
          "operator indexed against the lattice g1, g2 around the brightest peak, then g1, g2 "
          "and the origin fitted by least squares weighted by intensity (fit_lattice_vectors); "
          "the strain of the lattice relative to the reference (the median over "
          "reference_region once its frames are in, else g1 and g2) in py4DSTEM's convention "
          "(get_strain, coordinate_rotation 0). Outputs per frame <name>_g1x, _g1y, _g2x, _g2y, "
          "_fit_error (px) and _num_peaks (NaN lattice where fewer than min_peaks peaks index); "
          "RealSlices <name>_e_xx, _e_yy, _e_xy, _theta (rad), live on the dashboard and at the "
          "end.",
      .keys =
          {
              {"bragg",
               KeyType::kString,
               "",
               "",
               "the name of a bragg_disks operator earlier in [[operators]]"},
              {"g1",
               KeyType::kFloatArray,
               "",
               "px",
               "[qx, qy] approximate first lattice vector, to index the peaks",
               {},
               between(-4096, 4096)},
              {"g2",
               KeyType::kFloatArray,
               "",
               "px",
               "[qx, qy] approximate second lattice vector, not parallel to g1",
               {},
               between(-4096, 4096)},
              {"reference_region",
               KeyType::kIntArray,
               "-",
               "positions",
               "[rx0, rx1, ry0, ry1]: half-open scan rows and columns whose median fitted "
               "lattice is zero strain (without it: g1 and g2)",
               {},
               between(0, 1 << 24)},
              {"index_tolerance",
               KeyType::kFloat,
               "2.0",
               "px",
               "a peak farther than this from every lattice point is not used (py4DSTEM's "
               "max_peak_spacing); less than half the shorter lattice vector",
               {},
               config::above(0)},
              {"min_peaks",
               KeyType::kInt,
               "5",
               "peaks",
               "indexed peaks (the central beam included) a frame needs to be fitted "
               "(minNumPeaks)",
               {},
               between(3, 256)},
          },
      .build =
          [](const config::OperatorConfig& oc, const config::Config&) {
            const auto& k = oc.params;
            StrainMapParams p;
            p.bragg = k.get_string("bragg");
            p.bragg_where = k.where("bragg");
            const auto g1 = k.get_doubles_n<2>("g1");
            const auto g2 = k.get_doubles_n<2>("g2");
            p.g1 = {g1[0], g1[1]};
            p.g2 = {g2[0], g2[1]};
            const double n1 = std::hypot(g1[0], g1[1]), n2 = std::hypot(g2[0], g2[1]);
            const double cross = g1[0] * g2[1] - g1[1] * g2[0];
            if (!(std::abs(cross) > 1e-3 * n1 * n2)) {
              throw ConfigError(k.where("g2") + ": g1 and g2 are parallel (or zero)");
            }
            p.index_tolerance = k.get_double("index_tolerance");
            if (p.index_tolerance >= 0.5 * std::min(n1, n2)) {
              throw ConfigError(k.where("index_tolerance") +
                                ": must be less than half the shorter lattice vector (" +
                                std::to_string(0.5 * std::min(n1, n2)) +
                                " px): a peak would index to two lattice points");
            }
            p.min_peaks = static_cast<std::uint32_t>(k.get_int("min_peaks"));
            if (k.has("reference_region")) {
              const auto r = k.get_ints("reference_region");
              if (r.size() != 4 || r[0] >= r[1] || r[2] >= r[3]) {
                throw ConfigError(k.where("reference_region") +
                                  ": needs [rx0, rx1, ry0, ry1] with rx0 < rx1 and ry0 < ry1");
              }
              p.reference_region = std::array<std::uint32_t, 4>{std::uint32_t(r[0]),
                                                                std::uint32_t(r[1]),
                                                                std::uint32_t(r[2]),
                                                                std::uint32_t(r[3])};
            }
            return BuiltOperator{std::make_unique<StrainMapOp>(oc.name, std::move(p)), {}};
          },
  };
}

}  // namespace stemflow::ops
