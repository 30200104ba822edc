// SPDX-License-Identifier: GPL-3.0-or-later
#include "sinks/hdf5/hdf5_sink.hpp"

#include <chrono>
#include <filesystem>
#include <system_error>

#include "sinks/hdf5/emd_writer.hpp"

namespace stemflow::sinks {

namespace fs = std::filesystem;

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const auto t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, int(ms));
  return buf;
}

Expected<std::string> resolve_output_path(const std::string& pattern, std::uint64_t series_id,
                                          IfExists policy) {
  std::string path = pattern;
  for (auto pos = path.find("{series}"); pos != std::string::npos; pos = path.find("{series}")) {
    path.replace(pos, 8, std::to_string(series_id));
  }
  fs::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) {
    fs::create_directories(p.parent_path(), ec);
    if (ec) return make_error("output", "cannot create " + p.parent_path().string() + ": " + ec.message());
  }
  if (!fs::exists(p) || policy == IfExists::kOverwrite) return p.string();
  if (policy == IfExists::kError) {
    return make_error("output", p.string() + " exists and outputs.hdf5.if_exists = \"error\"");
  }
  for (int n = 1;; ++n) {
    fs::path candidate = p.parent_path() / (p.stem().string() + "_" + std::to_string(n) +
                                            p.extension().string());
    if (!fs::exists(candidate)) return candidate.string();
  }
}

namespace {

void write_provenance(hid_t root, const Provenance& prov, const ResultStore& store) {
  emd::Handle bundle = emd::create_group(root, "metadatabundle", "metadatabundle", "");
  emd::Handle md = emd::create_metadata(bundle.get(), "provenance");
  const auto& h = store.series();
  emd::metadata_string(md.get(), "stemflow_version", prov.stemflow_version);
  emd::metadata_string(md.get(), "config_toml", prov.config_toml);
  emd::metadata_string(md.get(), "config_file", prov.config_file);
  emd::metadata_string(md.get(), "input", prov.input);
  emd::metadata_string(md.get(), "device", prov.device);
  emd::metadata_string(md.get(), "start_time", prov.start_time);
  emd::metadata_string(md.get(), "end_time", prov.end_time);
  emd::metadata_string(md.get(), "series_end", std::string(series_end_name(prov.counts.end)));
  emd::metadata_int(md.get(), "series_id", std::int64_t(h.series_id));
  emd::metadata_tuple(md.get(), "scan_shape", {h.scan_rows, h.scan_cols});
  emd::metadata_tuple(md.get(), "frame_shape", {h.frame_rows, h.frame_cols});
  emd::metadata_string(md.get(), "dtype", std::string(dtype_name(h.dtype)));
  emd::metadata_string(md.get(), "detector", h.detector);
  for (const auto& [k, v] : h.metadata) emd::metadata_string(md.get(), "detector_" + k, v);
  emd::metadata_int(md.get(), "frames_received", std::int64_t(prov.counts.frames_received));
  emd::metadata_int(md.get(), "frames_processed", std::int64_t(prov.frames_processed));
  emd::metadata_int(md.get(), "frames_announced", std::int64_t(prov.counts.frames_announced));
  emd::metadata_int(md.get(), "frames_missing",
                    std::int64_t(h.scan_size() - prov.frames_processed));
  for (std::size_t r = 0; r < kDropReasonCount; ++r) {
    std::uint64_t n = prov.counts.dropped[r];
    if (static_cast<DropReason>(r) == DropReason::kOperatorError) n += prov.frames_failed;
    emd::metadata_int(md.get(),
                      "frames_dropped_" + std::string(drop_reason_name(static_cast<DropReason>(r))),
                      std::int64_t(n));
  }
  for (std::size_t o = 0; o < store.outputs().size(); ++o) {
    const auto& out = store.outputs()[o];
    emd::Handle op = emd::create_metadata(bundle.get(), "operator_" + out.name);
    emd::metadata_string(op.get(), "type", out.type);
    emd::metadata_int(op.get(), "frames_failed", std::int64_t(store.failures(o)));
    for (const auto& [k, v] : out.parameters) emd::metadata_string(op.get(), k, v);
  }
}

}  // namespace

void write_results(const std::string& path, const ResultStore& store, const Provenance& prov,
                   bool overwrite) {
  emd::Handle file = emd::create_file(path, overwrite);  // on failure nothing of ours to remove
  try {
    emd::Handle root = emd::create_group(file.get(), "stemflow", "root", "Root");
    const auto& h = store.series();
    for (std::size_t o = 0; o < store.outputs().size(); ++o) {
      const auto& out = store.outputs()[o];
      const auto& scalars = out.spec.scalars;
      for (std::size_t k = 0; k < scalars.size(); ++k) {
        // Peak finders' scalar (the count) is written as <name>_count beside the BraggVectors.
        std::string name = out.name;
        if (!scalars[k].suffix.empty()) name += "_" + scalars[k].suffix;
        emd::write_array(root.get(), name, "VirtualImage", store.map(o, k), h.scan_rows,
                         h.scan_cols, scalars[k].units, "pixels");
      }
      if (out.spec.max_peaks > 0) {
        emd::write_bragg_vectors(root.get(), out.name, h.scan_rows, h.scan_cols, h.frame_rows,
                                 h.frame_cols, [&](std::uint64_t i) { return store.peaks(o, i); });
      }
      for (const auto& img : store.series_images(o)) {
        std::string name = out.name;
        if (!img.suffix.empty()) name += "_" + img.suffix;
        emd::write_array(root.get(), name, "DiffractionSlice", img.values, img.rows, img.cols,
                         img.units, "pixels");
      }
    }
    emd::write_array_u8(root.get(), "coverage", "RealSlice", store.coverage(), h.scan_rows,
                        h.scan_cols, "received");
    write_provenance(root.get(), prov, store);
    emd::check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "flushing " + path);
  } catch (...) {
    file.reset();
    std::error_code ec;
    fs::remove(path, ec);
    throw;
  }
}

}  // namespace stemflow::sinks
