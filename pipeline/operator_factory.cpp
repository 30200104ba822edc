// SPDX-License-Identifier: GPL-3.0-or-later
#include "pipeline/operator_factory.hpp"

#include <map>
#include <set>
#include <sstream>

#include "ingest/npy.hpp"
#include "operators/center_of_mass/center_of_mass.hpp"
#include "operators/virtual_image/virtual_image.hpp"

namespace stemflow {

namespace {

std::vector<std::pair<std::string, std::string>> describe(const config::OperatorConfig& oc) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto* spec = config::find_operator_type(oc.type);
  for (const auto& k : spec->keys) {
    if (!oc.params.has(k.name)) continue;
    std::ostringstream os;
    switch (k.type) {
      case config::KeyType::kString: os << oc.params.get_string(k.name); break;
      case config::KeyType::kBool: os << (oc.params.get_bool(k.name) ? "true" : "false"); break;
      case config::KeyType::kInt: os << oc.params.get_int(k.name); break;
      case config::KeyType::kFloat: os << oc.params.get_double(k.name); break;
      case config::KeyType::kSize: os << oc.params.get_size(k.name); break;
      case config::KeyType::kFloatArray:
        for (double v : oc.params.get_doubles(k.name)) os << (os.tellp() ? " " : "") << v;
        break;
      case config::KeyType::kIntArray:
        for (auto v : oc.params.get_ints(k.name)) os << (os.tellp() ? " " : "") << v;
        break;
      case config::KeyType::kStringArray:
        for (const auto& v : oc.params.get_strings(k.name)) os << (os.tellp() ? " " : "") << v;
        break;
    }
    out.emplace_back(std::string(k.name), os.str());
  }
  return out;
}

template <std::size_t N>
std::array<double, N> fixed(const config::Params& p, std::string_view key) {
  const auto v = p.get_doubles(key);
  if (v.size() != N) {
    throw ConfigError(p.where(key) + ": needs " + std::to_string(N) + " numbers, got " +
                      std::to_string(v.size()));
  }
  std::array<double, N> a{};
  std::copy(v.begin(), v.end(), a.begin());
  return a;
}

void require(const config::Params& p, std::string_view key, std::string_view detector) {
  if (!p.has(key)) {
    throw ConfigError(p.where() + ": detector '" + std::string(detector) + "' needs '" +
                      std::string(key) + "'");
  }
}

ops::DetectorGeometry detector_geometry(const config::Params& p, const config::Config& config) {
  ops::DetectorGeometry g;
  const std::string d = p.get_string("detector");
  if (d == "none") {
    g.shape = ops::DetectorShape::kNone;
  } else if (d == "point") {
    g.shape = ops::DetectorShape::kPoint;
    require(p, "center", d);
    g.center = fixed<2>(p, "center");
  } else if (d == "circle") {
    g.shape = ops::DetectorShape::kCircle;
    require(p, "center", d);
    require(p, "radius", d);
    g.center = fixed<2>(p, "center");
    g.radius = p.get_double("radius");
  } else if (d == "annulus") {
    g.shape = ops::DetectorShape::kAnnulus;
    require(p, "center", d);
    require(p, "radii", d);
    g.center = fixed<2>(p, "center");
    g.radii = fixed<2>(p, "radii");
  } else if (d == "rectangle") {
    g.shape = ops::DetectorShape::kRectangle;
    require(p, "bounds", d);
    g.bounds = fixed<4>(p, "bounds");
  } else if (d == "mask") {
    g.shape = ops::DetectorShape::kMask;
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

}  // namespace

BuiltOperator make_operator(const config::OperatorConfig& oc, const config::Config& config) {
  BuiltOperator b;
  b.parameters = describe(oc);
  if (oc.type == "virtual_image") {
    b.op = std::make_unique<ops::VirtualImageOp>(oc.name, detector_geometry(oc.params, config));
  } else if (oc.type == "center_of_mass") {
    b.op = std::make_unique<ops::CenterOfMassOp>(oc.name, detector_geometry(oc.params, config));
  } else {
    throw ConfigError(oc.params.where() + ": operator type '" + oc.type +
                      "' is not available in this build");
  }
  return b;
}

}  // namespace stemflow
