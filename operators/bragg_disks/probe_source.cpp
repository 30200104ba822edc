// SPDX-License-Identifier: GPL-3.0-or-later
#include "operators/bragg_disks/probe_source.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

#include "ingest/npy.hpp"
#include "ingest/replay/frame_reader.hpp"
#include "operators/bragg_disks/bragg_disks.hpp"
#include "pipeline/core/expected.hpp"

namespace stemflow::ops {

namespace {

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
  return {static_cast<std::uint32_t>(arr->shape[0]),
          static_cast<std::uint32_t>(arr->shape[1]),
          std::move(arr->values)};
}

constexpr std::uint64_t kMaxVacuumFrames = 1 << 16;

//! The mean of the vacuum frames [first, stop) of a recorded file (all frames when no range).
std::vector<double> average_file_frames(
    const config::Params& p,
    ingest::FrameReader& reader,
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
      throw ConfigError(p.where() + ": vacuum frame " + std::to_string(i) + ": " +
                        r.error().message);
    }
  }
  return average_frames(reinterpret_cast<const std::byte*>(frames.data()),
                        info.dtype,
                        stop - first,
                        info.frame_rows,
                        info.frame_cols);
}

ProbeParams probe_params(const config::Params& p) {
  ProbeParams pp;
  pp.threshold = p.get_double("probe_threshold");
  pp.expansion = p.get_double("probe_expansion");
  pp.opening = static_cast<int>(p.get_int("probe_opening"));
  pp.mode = *parse_kernel_mode(p.get_string("kernel_mode"));
  if (p.has("kernel_origin")) pp.origin = p.get_doubles_n<2>("kernel_origin");
  if (p.has("kernel_radii")) pp.radii = p.get_doubles_n<2>("kernel_radii");
  if (p.has("kernel_sigma")) pp.gaussian_sigma = p.get_double("kernel_sigma");
  pp.sigmoid_log_is_logistic = p.get_bool("sigmoid_log_is_logistic");
  validate(pp);
  return pp;
}

}  // namespace

ProbeSource probe_source(const config::Params& p, const config::Config& config) {
  const int given =
      p.has("template") + p.has("vacuum") + (p.has("vacuum_frames") && !p.has("vacuum"));
  if (given != 1) {
    throw ConfigError(p.where() +
                      ": bragg_disks needs exactly one probe source: template = "
                      "\"kernel.npy\" (or \"none\"), vacuum = \"vacuum file\" (optionally with "
                      "vacuum_frames), or vacuum_frames = [first, stop) of the replayed file");
  }
  ProbeSource src;
  if (p.has("template")) {
    const std::string t = p.get_string("template");
    if (t == "none") return src;
    auto [rows, cols, values] = load_image(p, "template", resolve(config, t));
    src.kernel = ProbeKernel{rows, cols, std::move(values)};
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
      throw ConfigError(p.where("vacuum_frames") +
                        ": frames of a live stream cannot be read "
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
                                            in.has("format") ? in.get_string("format") : "",
                                            raw);
    rows = reader->info().frame_rows;
    cols = reader->info().frame_cols;
    mean = average_file_frames(p, *reader, range);
  }
  src.probe = build_probe_template(probe_params(p), mean, rows, cols);
  src.kernel = src.probe->kernel;
  return src;
}

void write_probe(const config::Config& config,
                 const std::string& operator_name,
                 const std::string& kernel_path,
                 const std::string& probe_path,
                 std::ostream& out) {
  const config::OperatorConfig* oc = nullptr;
  for (const auto& o : config.operators()) {
    if (o.type == BraggDisksOp::kType && (operator_name.empty() || o.name == operator_name)) {
      oc = &o;
      break;
    }
  }
  if (oc == nullptr) {
    throw ConfigError(config.file() + ": no bragg_disks operator" +
                      (operator_name.empty() ? "" : " named '" + operator_name + "'"));
  }
  const auto src = probe_source(oc->params, config);
  if (src.kernel.empty()) throw ConfigError(oc->params.where() + ": template = \"none\"");
  const auto& k = src.kernel;
  auto w = ingest::write_npy_f64(kernel_path, {k.rows, k.cols}, k.values);
  if (!w) throw std::runtime_error(w.error().message);
  out << "kernel " << k.rows << "x" << k.cols << " -> " << kernel_path << "\n";
  if (src.probe) {
    const auto& t = *src.probe;
    out << "alpha " << t.alpha << " px, origin (qx0, qy0) = (" << t.qx0 << ", " << t.qy0
        << "), radii [" << t.radii[0] << ", " << t.radii[1] << "]\n";
    if (!probe_path.empty()) {
      auto wp = ingest::write_npy_f64(probe_path, {k.rows, k.cols}, t.probe);
      if (!wp) throw std::runtime_error(wp.error().message);
      out << "probe -> " << probe_path << "\n";
    }
  }
}

}  // namespace stemflow::ops
