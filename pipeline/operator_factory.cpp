// SPDX-License-Identifier: GPL-3.0-or-later
#include "pipeline/operator_factory.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <tuple>
#include <set>
#include <sstream>

#include "ingest/npy.hpp"
#include "ingest/replay/frame_reader.hpp"
#include "operators/bragg_disks/bragg_disks.hpp"
#include "operators/bragg_disks/probe_template.hpp"
#include "operators/center_of_mass/center_of_mass.hpp"
#include "operators/max_pattern/max_pattern.hpp"
#include "operators/mean_pattern/mean_pattern.hpp"
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

std::filesystem::path resolve(const config::Config& config, const std::string& file) {
  std::filesystem::path path = file;
  return path.is_relative() ? config.base_dir() / path : path;
}

//! A 2-D .npy as (rows, cols, values); ConfigError naming the key otherwise.
std::tuple<std::uint32_t, std::uint32_t, std::vector<double>> load_image(
    const config::Params& p, std::string_view key, const std::filesystem::path& path) {
  auto arr = ingest::load_npy_as_f64(path.string());
  if (!arr) throw ConfigError(p.where(key) + ": " + arr.error().message);
  if (arr->shape.size() != 2) {
    throw ConfigError(p.where(key) + ": " + path.string() + " must be a 2-D array (frame shape)");
  }
  return {static_cast<std::uint32_t>(arr->shape[0]), static_cast<std::uint32_t>(arr->shape[1]),
          std::move(arr->values)};
}

constexpr std::uint64_t kMaxVacuumFrames = 1 << 16;

//! The mean of the vacuum frames [first, stop) of a recorded file (all frames when no range).
std::vector<double> average_file_frames(const config::Params& p, ingest::FrameReader& reader,
                                        std::optional<std::pair<std::uint64_t, std::uint64_t>> range) {
  const auto& info = reader.info();
  const std::uint64_t first = range ? range->first : 0;
  const std::uint64_t stop = range ? range->second : info.frames;
  if (stop <= first || stop > info.frames || stop - first > kMaxVacuumFrames) {
    throw ConfigError(p.where("vacuum_frames") + ": the range [" + std::to_string(first) + ", " +
                      std::to_string(stop) + ") does not fit the file's " +
                      std::to_string(info.frames) + " frames (at most " +
                      std::to_string(kMaxVacuumFrames) + ")");
  }
  const std::size_t fb = info.frame_bytes();
  std::vector<std::uint8_t> frames((stop - first) * fb);
  for (std::uint64_t i = first; i < stop; ++i) {
    auto r = reader.read_frame(i, {frames.data() + (i - first) * fb, fb});
    if (!r) {
      throw ConfigError(p.where() + ": vacuum frame " + std::to_string(i) + ": " + r.error().message);
    }
  }
  return ops::average_frames(reinterpret_cast<const std::byte*>(frames.data()), info.dtype,
                             stop - first, info.frame_rows, info.frame_cols);
}

ops::ProbeParams probe_params(const config::Params& p) {
  ops::ProbeParams pp;
  pp.threshold = p.get_double("probe_threshold");
  pp.expansion = p.get_double("probe_expansion");
  pp.opening = static_cast<int>(p.get_int("probe_opening"));
  pp.mode = *ops::parse_kernel_mode(p.get_string("kernel_mode"));
  if (p.has("kernel_origin")) pp.origin = fixed<2>(p, "kernel_origin");
  if (p.has("kernel_radii")) pp.radii = fixed<2>(p, "kernel_radii");
  if (p.has("kernel_sigma")) pp.gaussian_sigma = p.get_double("kernel_sigma");
  pp.sigmoid_log_is_logistic = p.get_bool("sigmoid_log_is_logistic");
  ops::validate(pp);
  return pp;
}

}  // namespace

ProbeSource probe_source(const config::Params& p, const config::Config& config) {
  const int given = p.has("template") + p.has("vacuum") + (p.has("vacuum_frames") && !p.has("vacuum"));
  if (given != 1) {
    throw ConfigError(p.where() + ": bragg_disks needs exactly one probe source: template = "
                      "\"kernel.npy\" (or \"none\"), vacuum = \"vacuum file\" (optionally with "
                      "vacuum_frames), or vacuum_frames = [first, stop) of the replayed file");
  }
  ProbeSource src;
  if (p.has("template")) {
    const std::string t = p.get_string("template");
    if (t == "none") return src;
    auto [rows, cols, values] = load_image(p, "template", resolve(config, t));
    src.kernel = ops::ProbeKernel{rows, cols, std::move(values)};
    return src;
  }
  std::optional<std::pair<std::uint64_t, std::uint64_t>> range;
  if (p.has("vacuum_frames")) {
    const auto r = p.get_ints("vacuum_frames");
    if (r.size() != 2 || r[0] < 0 || r[1] <= r[0]) {
      throw ConfigError(p.where("vacuum_frames") + ": needs [first, stop) with 0 <= first < stop");
    }
    range = {{std::uint64_t(r[0]), std::uint64_t(r[1])}};
  }
  std::uint32_t rows = 0, cols = 0;
  std::vector<double> mean;
  if (p.has("vacuum")) {
    const auto path = resolve(config, p.get_string("vacuum"));
    auto header = ingest::read_npy_header(path.string());
    if (header && header->shape.size() == 2) {  // a probe image, already averaged
      std::tie(rows, cols, mean) = load_image(p, "vacuum", path);
      if (range) throw ConfigError(p.where("vacuum_frames") + ": 'vacuum' is a single image");
    } else {
      auto reader = ingest::open_frame_reader(path.string(), "");
      rows = reader->info().frame_rows;
      cols = reader->info().frame_cols;
      mean = average_file_frames(p, *reader, range);
    }
  } else {
    const auto in = config.section("input");
    if (in.get_string("source") != "file") {
      throw ConfigError(p.where("vacuum_frames") + ": frames of a live stream cannot be read "
                        "before it arrives; record the vacuum to a file and give 'vacuum'");
    }
    ingest::RawLayout raw;
    raw.dtype = *parse_dtype(in.get_string("dtype"));
    if (in.has("frame_shape")) {
      const auto fs = in.get_ints("frame_shape");
      if (fs.size() == 2) raw.frame_shape = {std::uint32_t(fs[0]), std::uint32_t(fs[1])};
    }
    raw.header_bytes = static_cast<std::uint64_t>(in.get_int("header_bytes"));
    auto reader = ingest::open_frame_reader(resolve(config, in.get_string("path")).string(),
                                            in.has("format") ? in.get_string("format") : "", raw);
    rows = reader->info().frame_rows;
    cols = reader->info().frame_cols;
    mean = average_file_frames(p, *reader, range);
  }
  src.probe = ops::build_probe_template(probe_params(p), mean, rows, cols);
  src.kernel = src.probe->kernel;
  return src;
}

BuiltOperator make_operator(const config::OperatorConfig& oc, const config::Config& config) {
  BuiltOperator b;
  b.parameters = describe(oc);
  if (oc.type == "virtual_image") {
    b.op = std::make_unique<ops::VirtualImageOp>(oc.name, detector_geometry(oc.params, config));
  } else if (oc.type == "center_of_mass") {
    b.op = std::make_unique<ops::CenterOfMassOp>(oc.name, detector_geometry(oc.params, config));
  } else if (oc.type == "bragg_disks") {
    const auto& p = oc.params;
    ops::BraggDisksParams bp;
    bp.corr_power = p.get_double("corr_power");
    bp.sigma = p.get_double("sigma");
    bp.sigma_dp = p.get_double("sigma_dp");
    bp.edge_boundary = static_cast<int>(p.get_int("edge_boundary"));
    bp.min_absolute_intensity = p.get_double("min_absolute_intensity");
    bp.min_relative_intensity = p.get_double("min_relative_intensity");
    bp.relative_to_peak = static_cast<int>(p.get_int("relative_to_peak"));
    bp.min_peak_spacing = p.get_double("min_peak_spacing");
    bp.max_num_peaks = static_cast<int>(p.get_int("max_num_peaks"));
    bp.subpixel = *ops::parse_subpixel(p.get_string("subpixel"));
    bp.upsample_factor = static_cast<int>(p.get_int("upsample_factor"));
    bp.precision = *ops::parse_precision(p.get_string("precision"));
    bp.multicorr_method = *ops::parse_multicorr_method(p.get_string("multicorr_method"));
    bp.fft_planner = *ops::parse_fft_planner(p.get_string("fft_planner"));
    bp.no_template_applies_ifft = p.get_bool("no_template_applies_ifft");
    bp.sigma_dp_in_input_dtype = p.get_bool("sigma_dp_in_input_dtype");
    try {
      ops::validate(bp);
    } catch (const ConfigError& e) {
      throw ConfigError(p.where() + ": " + e.what());
    }
    auto src = probe_source(p, config);
    if (src.probe) {
      const auto& t = *src.probe;
      b.parameters.emplace_back("probe_alpha", std::to_string(t.alpha));
      b.parameters.emplace_back("probe_qx0", std::to_string(t.qx0));
      b.parameters.emplace_back("probe_qy0", std::to_string(t.qy0));
    }
    b.op = std::make_unique<ops::BraggDisksOp>(oc.name, bp, std::move(src.kernel));
  } else if (oc.type == "mean_pattern") {
    b.op = std::make_unique<ops::MeanPatternOp>(oc.name);
  } else if (oc.type == "max_pattern") {
    b.op = std::make_unique<ops::MaxPatternOp>(oc.name);
  } else {
    throw ConfigError(oc.params.where() + ": operator type '" + oc.type +
                      "' is not available in this build");
  }
  return b;
}

}  // namespace stemflow
