// SPDX-License-Identifier: GPL-3.0-or-later
#include "sinks/hdf5/hdf5_sink.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <system_error>

#include "sinks/hdf5/emd_writer.hpp"

namespace stemflow::sinks {

namespace fs = std::filesystem;

Expected<std::string> resolve_output_path(const std::string& pattern,
                                          std::uint64_t series_id,
                                          IfExists policy) {
  std::string path = pattern;
  for (auto pos = path.find("{series}"); pos != std::string::npos; pos = path.find("{series}")) {
    path.replace(pos, 8, std::to_string(series_id));
  }
  fs::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) {
    fs::create_directories(p.parent_path(), ec);
    if (ec)
      return make_error("output",
                        "cannot create " + p.parent_path().string() + ": " + ec.message());
  }
  if (!fs::exists(p) || policy == IfExists::kOverwrite) return p.string();
  if (policy == IfExists::kError) {
    return make_error("output", p.string() + " exists and outputs.hdf5.if_exists = \"error\"");
  }
  for (int n = 1;; ++n) {
    fs::path candidate =
        p.parent_path() / (p.stem().string() + "_" + std::to_string(n) + p.extension().string());
    if (!fs::exists(candidate)) return candidate.string();
  }
}

namespace {

constexpr std::uint64_t kPeakColumns = 5;  // rx, ry, qx, qy, intensity

std::string map_name(const OutputInfo& out, const ScalarOutput& s) {
  return s.suffix.empty() ? out.name : out.name + "_" + s.suffix;
}

}  // namespace

//! The open file while the scan runs, and what has changed since the last flush.
struct Hdf5Sink::Live {
  emd::Handle file;
  emd::Handle root;
  std::vector<std::vector<emd::Handle>> maps;      // [op][scalar] data datasets
  std::vector<emd::Handle> peak_tables;            // [op], invalid for operators without peaks
  std::vector<std::vector<double>> pending_peaks;  // [op], rows not yet appended
  emd::Handle coverage;
  // What the file holds as of the last flush that went through (see flush()): the coverage
  // written there, and the rows of each peak table.
  std::vector<std::uint8_t> committed;
  std::vector<std::uint64_t> committed_peaks;  // [op]
  std::uint64_t dirty_row0 = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t dirty_row1 = 0;
  std::chrono::steady_clock::time_point last_flush{};
};

Hdf5Sink::Hdf5Sink(Hdf5Options options) : options_(std::move(options)) {}
Hdf5Sink::~Hdf5Sink() { emd::quiet_errors(); }  // closing the handles may fail too

void Hdf5Sink::fail(const std::string& what) {
  if (error_.empty()) {
    error_ = what;
    spdlog::error(
        "HDF5 output {}: {} (the results of this series will not be complete)", path_, what);
  }
  live_.reset();
}

void Hdf5Sink::series_started(const ResultStore& store, const Provenance& prov) {
  emd::quiet_errors();
  live_.reset();
  error_.clear();
  path_.clear();
  const auto& h = store.series();
  auto path = resolve_output_path(options_.path, h.series_id, options_.if_exists);
  if (!path) {
    error_ = path.error().message;
    spdlog::error("HDF5 output: {}", error_);
    return;
  }
  path_ = *path;
  std::error_code exists_ec;
  const bool existed = fs::exists(path_, exists_ec);
  bool created = false;
  try {
    auto live = std::make_unique<Live>();
    live->file = emd::create_file(path_, options_.if_exists == IfExists::kOverwrite);
    created = true;
    live->root = emd::create_group(live->file.get(), "stemflow", "root", "Root");
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (const auto& out : store.outputs()) {
      auto& maps = live->maps.emplace_back();
      for (const auto& s : out.spec.scalars) {
        maps.push_back(emd::create_live_array(live->root.get(),
                                              map_name(out, s),
                                              "VirtualImage",
                                              H5T_IEEE_F64LE,
                                              h.scan_rows,
                                              h.scan_cols,
                                              nan,
                                              s.units));
      }
      live->peak_tables.push_back(
          out.spec.max_peaks > 0
              ? emd::create_live_table(live->root.get(), out.name + "_peaks", kPeakColumns, "px")
              : emd::Handle());
      live->pending_peaks.emplace_back();
    }
    live->coverage = emd::create_live_array(live->root.get(),
                                            "coverage",
                                            "RealSlice",
                                            H5T_STD_U8LE,
                                            h.scan_rows,
                                            h.scan_cols,
                                            0.0,
                                            "received");
    live->committed.assign(h.scan_size(), 0);
    live->committed_peaks.assign(store.outputs().size(), 0);
    emd::Handle bundle =
        emd::create_group(live->root.get(), "metadatabundle", "metadatabundle", "");
    emd::Handle md = emd::create_metadata(bundle.get(), "provenance");
    emd::metadata_string(md.get(), "stemflow_version", prov.stemflow_version);
    emd::metadata_string(md.get(), "config_toml", prov.config_toml);
    emd::metadata_string(md.get(), "config_file", prov.config_file);
    emd::metadata_string(md.get(), "input", prov.input);
    emd::metadata_string(md.get(), "device", prov.device);
    emd::metadata_string(md.get(), "start_time", prov.start_time);
    emd::metadata_int(md.get(), "series_id", std::int64_t(h.series_id));
    emd::metadata_tuple(md.get(), "scan_shape", {h.scan_rows, h.scan_cols});
    emd::metadata_tuple(md.get(), "frame_shape", {h.frame_rows, h.frame_cols});
    emd::metadata_string(md.get(), "dtype", std::string(dtype_name(h.dtype)));
    emd::metadata_string(md.get(), "detector", h.detector);
    for (const auto& [k, v] : h.metadata) emd::metadata_string(md.get(), "detector_" + k, v);
    for (const auto& out : store.outputs()) {
      emd::Handle op = emd::create_metadata(bundle.get(), "operator_" + out.name);
      emd::metadata_string(op.get(), "type", out.type);
      for (const auto& [k, v] : out.parameters) emd::metadata_string(op.get(), k, v);
    }
    md.reset();
    bundle.reset();
    // From here on readers may open the file while we write; no new objects until series end.
    emd::check(H5Fstart_swmr_write(live->file.get()), "start SWMR writing");
    live->last_flush = std::chrono::steady_clock::now();
    live_ = std::move(live);
  } catch (const std::exception& e) {
    fail(e.what());
    std::error_code ec;
    // Half-made (or, on a full disk, an empty file H5Fcreate could not finish): nothing in it is a
    // result yet. A file that was there before (if_exists = "overwrite") is left alone.
    if (created || !existed) fs::remove(path_, ec);
    path_.clear();
  }
}

void Hdf5Sink::batch_done(const FrameBatch& batch, const ResultStore& store) {
  if (!live_) return;
  emd::quiet_errors();  // the sink node runs on any TBB worker thread
  const std::uint64_t cols = store.series().scan_cols;
  for (std::uint32_t i = 0; i < batch.count; ++i) {
    const std::uint64_t row = batch.index[i] / cols;
    live_->dirty_row0 = std::min(live_->dirty_row0, row);
    live_->dirty_row1 = std::max(live_->dirty_row1, row + 1);
  }
  for (std::size_t o = 0; o < store.outputs().size(); ++o) {
    if (store.outputs()[o].spec.max_peaks == 0) continue;
    auto& rows = live_->pending_peaks[o];
    for (std::uint32_t i = 0; i < batch.count; ++i) {
      const std::uint64_t pos = batch.index[i];
      for (const Peak& p : store.peaks(o, pos)) {
        rows.insert(rows.end(), {double(pos / cols), double(pos % cols), p.qx, p.qy, p.intensity});
      }
    }
  }
  // Cut short, the rows are written once, by series_ended; flushing on the way would only delay it.
  if (!cut_short_.load() &&
      std::chrono::steady_clock::now() - live_->last_flush >= options_.flush_interval) {
    flush(store);
  }
}

// A flush is a commit whose record is the coverage. The maps, the peak tables and the coverage are
// separate datasets, and HDF5 does not write them to the file in the order of the H5Dwrite calls:
// H5Dwrite may only fill the chunk cache, and H5Fflush then writes the cached chunks dataset by
// dataset, stopping at the first that fails (a full disk). Left to that, a failed flush leaves some
// maps with the new rows, others without, and a coverage that says neither. So each step is written
// and flushed on its own (H5Dflush), the coverage last:
//   1. the peak rows (the one dataset that grows, so the one a full disk stops),
//   2. the map rows,
//   3. the coverage rows, only once every dataset holds them.
// If any step fails, what this flush wrote is put back to the last commit (coverage first, so that
// it never claims a row the maps do not hold): the coverage and the maps rewritten as committed
// (NaN where the coverage is 0), the peak tables shrunk to their committed rows. Those rewrites
// need no new space (the maps and coverage were allocated at series start, and shrinking drops the
// peak chunks that could not be written), so they go through on a full disk, and the file is left
// holding exactly the positions its coverage shows, in every dataset. The sink then stops writing.
// (A kill -9 between steps 2 and 3 can leave map values ahead of the coverage, never the reverse.)
void Hdf5Sink::flush(const ResultStore& store) {
  if (!live_) return;
  const auto& h = store.series();
  const std::uint64_t r0 = live_->dirty_row0, r1 = live_->dirty_row1;
  try {
    for (std::size_t o = 0; o < live_->peak_tables.size(); ++o) {
      if (live_->peak_tables[o].get() < 0 || live_->pending_peaks[o].empty()) continue;
      emd::append_rows(live_->peak_tables[o].get(), live_->pending_peaks[o], kPeakColumns);
      emd::flush_dataset(live_->peak_tables[o].get(), store.outputs()[o].name + "_peaks");
    }
    if (r1 > r0) {
      for (std::size_t o = 0; o < live_->maps.size(); ++o) {
        for (std::size_t k = 0; k < live_->maps[o].size(); ++k) {
          emd::write_rows(live_->maps[o][k].get(),
                          H5T_NATIVE_DOUBLE,
                          store.map(o, k).data(),
                          sizeof(double),
                          h.scan_cols,
                          r0,
                          r1);
          emd::flush_dataset(live_->maps[o][k].get(),
                             map_name(store.outputs()[o], store.outputs()[o].spec.scalars[k]));
        }
      }
      emd::write_rows(
          live_->coverage.get(), H5T_NATIVE_UINT8, store.coverage().data(), 1, h.scan_cols, r0, r1);
      emd::flush_dataset(live_->coverage.get(), "coverage");
    }
  } catch (const std::exception& e) {
    roll_back(store);
    fail(e.what());
    return;
  }
  // Committed: every dataset holds these rows.
  if (r1 > r0) {
    std::copy(store.coverage().begin() + std::ptrdiff_t(r0 * h.scan_cols),
              store.coverage().begin() + std::ptrdiff_t(r1 * h.scan_cols),
              live_->committed.begin() + std::ptrdiff_t(r0 * h.scan_cols));
  }
  for (std::size_t o = 0; o < live_->peak_tables.size(); ++o) {
    if (live_->peak_tables[o].get() < 0) continue;
    live_->committed_peaks[o] += live_->pending_peaks[o].size() / kPeakColumns;
    live_->pending_peaks[o].clear();
  }
  live_->dirty_row0 = std::numeric_limits<std::uint64_t>::max();
  live_->dirty_row1 = 0;
  live_->last_flush = std::chrono::steady_clock::now();
  try {
    // The rest of what the library holds (superblock, shared metadata); the rows are in already.
    emd::check(H5Fflush(live_->file.get(), H5F_SCOPE_LOCAL), "flush");
  } catch (const std::exception& e) {
    fail(e.what());
  }
}

void Hdf5Sink::roll_back(const ResultStore& store) {
  const auto& h = store.series();
  const std::uint64_t cols = h.scan_cols;
  const std::uint64_t r0 = live_->dirty_row0, r1 = live_->dirty_row1;
  const auto attempt = [&](const std::string& what, auto&& step) {
    try {
      step();
    } catch (const std::exception& e) {
      // Nothing more to do: the log says which dataset may hold more than the coverage shows.
      spdlog::error(
          "HDF5 output {}: could not put {} back to the last flush: {}", path_, what, e.what());
    }
  };
  if (r1 > r0) {
    const auto* committed = live_->committed.data() + r0 * cols;
    attempt("coverage", [&] {
      emd::write_row_block(live_->coverage.get(), H5T_NATIVE_UINT8, committed, cols, r0, r1);
      emd::flush_dataset(live_->coverage.get(), "coverage");
    });
    std::vector<double> rows((r1 - r0) * cols);
    for (std::size_t o = 0; o < live_->maps.size(); ++o) {
      for (std::size_t k = 0; k < live_->maps[o].size(); ++k) {
        const auto& map = store.map(o, k);
        for (std::size_t i = 0; i < rows.size(); ++i) {
          rows[i] = committed[i] ? map[r0 * cols + i] : std::numeric_limits<double>::quiet_NaN();
        }
        attempt(map_name(store.outputs()[o], store.outputs()[o].spec.scalars[k]), [&] {
          emd::write_row_block(
              live_->maps[o][k].get(), H5T_NATIVE_DOUBLE, rows.data(), cols, r0, r1);
          emd::flush_dataset(live_->maps[o][k].get(), "map");
        });
      }
    }
  }
  for (std::size_t o = 0; o < live_->peak_tables.size(); ++o) {
    if (live_->peak_tables[o].get() < 0) continue;
    attempt(store.outputs()[o].name + "_peaks", [&] {
      const hid_t table = live_->peak_tables[o].get();
      if (emd::table_rows(table) == live_->committed_peaks[o]) return;
      emd::truncate_rows(table, live_->committed_peaks[o], kPeakColumns);
      emd::flush_dataset(table, "peak table");
    });
  }
}

Expected<std::string> Hdf5Sink::series_ended(const ResultStore& store, const Provenance& prov) {
  emd::quiet_errors();
  flush(store);
  if (!live_) {
    if (error_.empty()) return make_error("output", "no output file");
    // A write failed mid-scan (a full disk, say): what was flushed before it is still in the file.
    std::error_code ec;
    return make_error("output",
                      !path_.empty() && fs::exists(path_, ec)
                          ? error_ + "; " + path_ + " holds only the rows flushed before"
                          : error_);
  }
  // Closing the SWMR file clears its open-for-writing mark (H5Fclose resets the superblock's status
  // flags), which SWMR-less readers (h5py's default, py4DSTEM) refuse. Reopening it below sets the
  // mark again until it is closed, so that part must stay short when the user wants out: a series
  // cut short skips its slow steps.
  live_.reset();
  try {
    const auto& h = store.series();
    emd::Handle file = emd::open_file(path_);
    emd::Handle root = emd::open_group(file.get(), "stemflow");
    // Cut short by a second signal (before or while we get here): what follows costs time in
    // proportion to the scan, so it is left out; the peaks are in the live <name>_peaks tables.
    bool cut_short = prov.counts.end == SeriesEnd::kCutShort;
    for (std::size_t o = 0; o < store.outputs().size(); ++o) {
      if (cut_short_.load()) cut_short = true;
      if (cut_short) break;
      const auto& out = store.outputs()[o];
      if (out.spec.max_peaks > 0) {
        emd::write_bragg_vectors(root.get(),
                                 out.name,
                                 h.scan_rows,
                                 h.scan_cols,
                                 h.frame_rows,
                                 h.frame_cols,
                                 [&](std::uint64_t i) { return store.peaks(o, i); });
      }
      for (const auto& img : store.series_images(o)) {
        const bool real = img.space == ImageSpace::kReal;
        emd::write_array(root.get(),
                         img.suffix.empty() ? out.name : out.name + "_" + img.suffix,
                         real ? "RealSlice" : "DiffractionSlice",
                         img.values,
                         img.rows,
                         img.cols,
                         img.units,
                         "pixels");
      }
    }
    emd::Handle bundle = emd::open_group(root.get(), "metadatabundle");
    emd::Handle md = emd::open_group(bundle.get(), "provenance");
    emd::metadata_string(md.get(), "end_time", prov.end_time);
    emd::metadata_string(
        md.get(),
        "series_end",
        std::string(series_end_name(cut_short ? SeriesEnd::kCutShort : prov.counts.end)));
    emd::metadata_int(md.get(), "frames_received", std::int64_t(prov.counts.frames_received));
    emd::metadata_int(md.get(), "frames_processed", std::int64_t(prov.frames_processed));
    emd::metadata_int(md.get(), "frames_announced", std::int64_t(prov.counts.frames_announced));
    emd::metadata_int(md.get(), "mpi_ranks", std::int64_t(prov.mpi_ranks));
    emd::metadata_tuple(
        md.get(),
        "frames_per_rank",
        std::vector<std::int64_t>(prov.frames_per_rank.begin(), prov.frames_per_rank.end()));
    emd::metadata_int(
        md.get(), "frames_missing", std::int64_t(h.scan_size() - prov.frames_processed));
    // Received into a batch but never processed: only a second signal leaves any.
    emd::metadata_int(md.get(),
                      "frames_cut_short",
                      std::int64_t(prov.counts.frames_accepted > prov.frames_processed
                                       ? prov.counts.frames_accepted - prov.frames_processed
                                       : 0));
    for (std::size_t r = 0; r < kDropReasonCount; ++r) {
      std::uint64_t n = prov.counts.dropped[r];
      if (static_cast<DropReason>(r) == DropReason::kOperatorError) n += prov.frames_failed;
      emd::metadata_int(
          md.get(),
          "frames_dropped_" + std::string(drop_reason_name(static_cast<DropReason>(r))),
          std::int64_t(n));
    }
    for (std::size_t o = 0; o < store.outputs().size(); ++o) {
      emd::Handle op = emd::open_group(bundle.get(), "operator_" + store.outputs()[o].name);
      emd::metadata_int(op.get(), "frames_failed", std::int64_t(store.failures(o)));
    }
    emd::check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "flush");
  } catch (const std::exception& e) {
    // The live part (maps, coverage, peak tables) is already safe in the file; say what is missing.
    error_ = std::string("finishing ") + path_ + ": " + e.what();
    spdlog::error("HDF5 output: {}", error_);
    return make_error("output", error_);
  }
  return path_;
}

}  // namespace stemflow::sinks
