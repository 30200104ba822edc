// SPDX-License-Identifier: GPL-3.0-or-later
#include "operators/virtual_image/detector_config.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "ingest/npy.hpp"
#include "pipeline/core/expected.hpp"

namespace stemflow::ops {

namespace {

void require(const config::Params& p, std::string_view key, std::string_view detector) {
  if (!p.has(key)) {
    throw ConfigError(p.where() + ": detector '" + std::string(detector) + "' needs '" +
                      std::string(key) + "'");
  }
}

}  // namespace

std::vector<config::KeySpec> detector_keys(std::string_view default_detector,
                                           std::vector<std::string_view> choices) {
  using config::KeyType;
  return {
      {"detector",
       KeyType::kString,
       default_detector,
       "",
       "detector geometry (py4DSTEM mode): point, circle, annulus, rectangle, mask",
       choices},
      {"center",
       KeyType::kFloatArray,
       "-",
       "px",
       "[qx, qy] centre of a point, circle or annulus detector (point: int() truncation)"},
      {"radius",
       KeyType::kFloat,
       "-",
       "px",
       "circle radius R: pixel inside iff r^2 < R^2 (strict)",
       {},
       config::positive()},
      {"radii",
       KeyType::kFloatArray,
       "-",
       "px",
       "annulus [inner, outer]: pixel inside iff inner^2 < r^2 < outer^2 (strict), inner < outer",
       {},
       config::at_least(0)},
      // Negative bounds would wrap around in Python; see DetectorGeometry::validate.
      {"bounds",
       KeyType::kFloatArray,
       "-",
       "px",
       "rectangle [qx_min, qx_max, qy_min, qy_max]: rows [round(qx_min), round(qx_max)) x columns "
       "[round(qy_min), round(qy_max)), half-open, round half to even",
       {},
       config::at_least(0)},
      {"mask",
       KeyType::kString,
       "-",
       "",
       ".npy file with a frame-shaped mask (bool, integer or float weights); relative paths are "
       "relative to the configuration file"},
  };
}

DetectorGeometry detector_geometry(const config::Params& p, const config::Config& config) {
  DetectorGeometry g;
  const std::string d = p.get_string("detector");
  if (d == "none") {
    g.shape = DetectorShape::kNone;
  } else if (d == "point") {
    g.shape = DetectorShape::kPoint;
    require(p, "center", d);
    g.center = p.get_doubles_n<2>("center");
  } else if (d == "circle") {
    g.shape = DetectorShape::kCircle;
    require(p, "center", d);
    require(p, "radius", d);
    g.center = p.get_doubles_n<2>("center");
    g.radius = p.get_double("radius");
  } else if (d == "annulus") {
    g.shape = DetectorShape::kAnnulus;
    require(p, "center", d);
    require(p, "radii", d);
    g.center = p.get_doubles_n<2>("center");
    g.radii = p.get_doubles_n<2>("radii");
  } else if (d == "rectangle") {
    g.shape = DetectorShape::kRectangle;
    require(p, "bounds", d);
    g.bounds = p.get_doubles_n<4>("bounds");
  } else if (d == "mask") {
    g.shape = DetectorShape::kMask;
    require(p, "mask", d);
    std::filesystem::path path = p.get_string("mask");
    if (path.is_relative()) path = config.base_dir() / path;
    auto arr = ingest::load_npy_as_f64(path.string());
    if (!arr) throw ConfigError(p.where("mask") + ": " + arr.error().message);
    if (arr->shape.size() != 2) {
      throw ConfigError(p.where("mask") + ": the mask must be a 2-D array (frame shape)");
    }
    g.mask_rows = static_cast<std::uint32_t>(arr->shape[0]);
    g.mask_cols = static_cast<std::uint32_t>(arr->shape[1]);
    g.mask = std::move(arr->values);
  }
  // Keys of other detector shapes are a sign of a mistake; say so instead of ignoring them.
  static const std::map<std::string, std::set<std::string_view>> kUses = {
      {"none", {}},
      {"point", {"center"}},
      {"circle", {"center", "radius"}},
      {"annulus", {"center", "radii"}},
      {"rectangle", {"bounds"}},
      {"mask", {"mask"}}};
  for (std::string_view key : {"center", "radius", "radii", "bounds", "mask"}) {
    if (p.has(key) && !kUses.at(d).count(key)) {
      throw ConfigError(p.where(key) + ": not used by detector '" + d + "'");
    }
  }
  g.validate(p.where());
  return g;
}

}  // namespace stemflow::ops
