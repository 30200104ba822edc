// SPDX-License-Identifier: GPL-3.0-or-later
// Loading the py4DSTEM reference datasets (shared/reference/py4dstem-ref-*) and running
// BraggDisksOp over a whole scan, for the Bragg disk tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "operators/bragg_disks/bragg_disks.hpp"
#include "pipeline/core/batch.hpp"
#include "pipeline/core/series.hpp"
#include "tests/support/test_data.hpp"

namespace stemflow::testing {

namespace fs = std::filesystem;

inline fs::path reference_root() { return test::shared_dir() / "reference"; }

//! The datasets present, sorted by name ("py4dstem-ref-128", ...).
inline std::vector<std::string> reference_datasets() {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(reference_root(), ec)) return out;
  for (const auto& e : fs::directory_iterator(reference_root(), ec)) {
    if (e.is_directory() && fs::exists(e.path() / "data_uint16.raw")) {
      out.push_back(e.path().filename().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

//! The few numbers of meta.json the tests need, read without a JSON library (the file's own
//! layout).
struct Meta {
  std::uint32_t rx = 0, ry = 0, qx = 0, qy = 0;
  double alpha = 0, qx0 = 0, qy0 = 0;
  int edge_boundary = 0;
  double min_peak_spacing = 0;
};

inline double json_number_after(const std::string& s,
                                const std::string& key,
                                std::size_t from = 0) {
  const auto k = s.find("\"" + key + "\"", from);
  if (k == std::string::npos) return NAN;
  const auto c = s.find(':', k);
  return std::stod(s.substr(c + 1));
}

inline Meta read_meta(const fs::path& dir) {
  std::ifstream f(dir / "meta.json");
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string s = ss.str();
  Meta m;
  const auto shape = s.find("\"shape\"");
  std::vector<double> dims;
  std::size_t pos = s.find('[', shape) + 1;
  for (int i = 0; i < 4; ++i) {
    dims.push_back(std::stod(s.substr(pos)));
    pos = s.find_first_of(",]", pos) + 1;
  }
  m.rx = std::uint32_t(dims[0]);
  m.ry = std::uint32_t(dims[1]);
  m.qx = std::uint32_t(dims[2]);
  m.qy = std::uint32_t(dims[3]);
  const auto t = s.find("\"template\"");
  m.alpha = json_number_after(s, "alpha", t);
  m.qx0 = json_number_after(s, "qx0", t);
  m.qy0 = json_number_after(s, "qy0", t);
  const auto runs = s.find("\"detection_runs\"");
  m.edge_boundary = int(json_number_after(s, "edgeBoundary", runs));
  m.min_peak_spacing = json_number_after(s, "minPeakSpacing", runs);
  return m;
}

//! Peaks per scan position (index rx * ry_count + ry), in file order.
using PeakLists = std::vector<std::vector<Peak>>;

//! Points per scan position from a CSV whose first two columns are rx, ry and whose columns
//! qx_col, qx_col + 1, qx_col + 2 are qx, qy and the intensity; the header line is skipped.
inline PeakLists read_points_csv(const fs::path& p,
                                 std::uint32_t rx,
                                 std::uint32_t ry,
                                 std::size_t qx_col) {
  PeakLists out(std::size_t{rx} * ry);
  std::ifstream f(p);
  std::string line;
  std::getline(f, line);
  while (std::getline(f, line)) {
    std::stringstream ls(line);
    std::string tok;
    std::vector<std::string> cols;
    while (std::getline(ls, tok, ',')) cols.push_back(tok);
    if (cols.size() < qx_col + 3) continue;
    const std::size_t idx = std::stoul(cols[0]) * ry + std::stoul(cols[1]);
    out[idx].push_back(
        Peak{std::stod(cols[qx_col]), std::stod(cols[qx_col + 1]), std::stod(cols[qx_col + 2])});
  }
  return out;
}

//! peaks_<run>.csv: rx, ry, i, qx, qy, intensity.
inline PeakLists read_peaks_csv(const fs::path& p, std::uint32_t rx, std::uint32_t ry) {
  return read_points_csv(p, rx, ry, 3);
}

//! ground_truth.csv: rx, ry, h, k, qx, qy, amplitude -> disk centres per scan position.
inline PeakLists read_ground_truth(const fs::path& p, std::uint32_t rx, std::uint32_t ry) {
  return read_points_csv(p, rx, ry, 4);
}

//! One loaded dataset.
struct Dataset {
  std::string name;
  fs::path dir;
  Meta meta;
  std::vector<std::uint16_t> data;  // rx, ry, qx, qy
  ops::ProbeKernel kernel;          // template_float32.raw as float64

  std::size_t frames() const { return std::size_t{meta.rx} * meta.ry; }
  std::size_t frame_pixels() const { return std::size_t{meta.qx} * meta.qy; }
};

inline Dataset load_dataset(const std::string& name) {
  Dataset d;
  d.name = name;
  d.dir = reference_root() / name;
  d.meta = read_meta(d.dir);
  d.data = test::read_raw<std::uint16_t>(d.dir / "data_uint16.raw");
  const auto t = test::read_raw<float>(d.dir / "template_float32.raw");
  d.kernel = ops::ProbeKernel{d.meta.qx, d.meta.qy, std::vector<double>(t.begin(), t.end())};
  return d;
}

//! The detection parameters of the reference runs (meta.json detection_runs).
inline ops::BraggDisksParams reference_params(const Meta& m,
                                              ops::Subpixel sp,
                                              ops::Precision prec,
                                              double corr_power = 1.0) {
  ops::BraggDisksParams p;
  p.corr_power = corr_power;
  p.sigma = 2;
  p.sigma_dp = 0;
  p.edge_boundary = m.edge_boundary;
  p.min_relative_intensity = 0.005;
  p.relative_to_peak = 0;
  p.min_absolute_intensity = 0;
  p.min_peak_spacing = m.min_peak_spacing;
  p.max_num_peaks = 70;
  p.upsample_factor = 16;
  p.subpixel = sp;
  p.precision = prec;
  return p;
}

//! Runs a started operator over frames [first, first + count) of a uint16 scan, in one batch.
inline PeakLists run_operator(ops::BraggDisksOp& op,
                              const SeriesHeader& h,
                              const std::vector<std::uint16_t>& data,
                              std::size_t first,
                              std::size_t count,
                              std::vector<std::uint8_t>* failed = nullptr) {
  FrameBatch b;
  b.series = &h;
  b.count = b.capacity = static_cast<std::uint32_t>(count);
  b.frame_bytes = h.frame_bytes();
  b.pixels = const_cast<std::byte*>(reinterpret_cast<const std::byte*>(data.data())) +
             first * h.frame_bytes();
  OperatorResults r;
  const auto spec = op.outputs();
  r.scalars_per_frame = static_cast<std::uint32_t>(spec.scalars.size());
  r.max_peaks = spec.max_peaks;
  r.resize(b.capacity);
  op.process(b, r);
  PeakLists out(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    const auto pk = std::as_const(r).frame_peaks(i);
    out[i].assign(pk.begin(), pk.end());
  }
  if (failed) *failed = r.failed;
  return out;
}

inline SeriesHeader header_of(const Meta& m) {
  SeriesHeader h;
  h.scan_rows = m.rx;
  h.scan_cols = m.ry;
  h.frame_rows = m.qx;
  h.frame_cols = m.qy;
  h.dtype = Dtype::kU16;
  return h;
}

}  // namespace stemflow::testing
