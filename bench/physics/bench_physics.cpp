// SPDX-License-Identifier: GPL-3.0-or-later
// bench_physics: what origin + bragg_vector_map + strain_map add after bragg_disks, per frame.
//
// The reference scan's frames go through the operators as the engine runs them: bragg_disks
// (poly, float32, the scan's own vacuum probe) on each batch; then, on the same batch, the
// dependents' process() (origin, strain_map: the placement's level 1), the store's consume() and
// the serial reduce() (bragg_vector_map's accumulation) on the sink thread. The scan is replayed
// until --min-seconds have passed for each part; the first pass is a warm-up. Also timed: one
// preview() of every operator (what the dashboard gets each update interval) and the series-end
// conclude(). Prints key=value lines.
//
// Usage: bench_physics --dataset DIR (a ../shared/reference/py4dstem-ref-* folder)
//          [--threads 0 (all)] [--batch 64] [--min-seconds 3]
// Also timed: origin mode "com" on the same frames alone, and dpc's solve on 64/128/256 scans.
#include <sys/resource.h>
#include <tbb/global_control.h>
#include <tbb/info.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "ingest/npy.hpp"
#include "operators/dpc/dpc.hpp"
#include "operators/gpu/placement.hpp"
#include "operators/registry.hpp"
#include "pipeline/core/result_store.hpp"

using namespace stemflow;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

template <class T>
std::vector<T> read_raw(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::vector<T> v(fs::file_size(p) / sizeof(T));
  f.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * sizeof(T)));
  if (!f) throw std::runtime_error("cannot read " + p.string());
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a;
  for (int i = 1; i + 1 < argc; i += 2) a[std::string(argv[i]).substr(2)] = argv[i + 1];
  auto get = [&](const std::string& k, const std::string& d) { return a.count(k) ? a[k] : d; };
  try {
    const fs::path dir = get("dataset", "");
    const int threads = std::stoi(get("threads", "0"));
    const std::uint32_t batch = std::stoul(get("batch", "64"));
    const double min_seconds = std::stod(get("min-seconds", "3"));
    const int nthreads = threads > 0 ? threads : tbb::info::default_concurrency();
    tbb::global_control gc(tbb::global_control::max_allowed_parallelism, nthreads);

    const auto meta = nlohmann::json::parse(std::ifstream(dir / "meta.json"));
    const auto& shape = meta["data"]["shape"];
    SeriesHeader h;
    h.scan_rows = shape[0];
    h.scan_cols = shape[1];
    h.frame_rows = shape[2];
    h.frame_cols = shape[3];
    const auto pixels = read_raw<std::uint16_t>(dir / "data_uint16.raw");
    const auto vac = read_raw<std::uint16_t>(dir / "vacuum_stack_uint16.raw");
    const fs::path work = fs::temp_directory_path() / "stemflow-bench-physics";
    fs::create_directories(work);
    {
      std::ofstream f(work / "vacuum.npy", std::ios::binary);
      ingest::write_npy_header(
          f, Dtype::kU16, {vac.size() / h.frame_pixels(), h.frame_rows, h.frame_cols});
      f.write(reinterpret_cast<const char*>(vac.data()), std::streamsize(vac.size() * 2));
    }
    const auto& p = meta["detection_runs"]["poly"]["params"];
    const auto& g = meta["generator"]["params"];
    const double tol = h.frame_rows / 64.0;
    std::ostringstream toml;
    toml << "[input]\nendpoint = \"tcp://127.0.0.1:5555\"\n"
         << "[[operators]]\ntype = \"bragg_disks\"\nname = \"bragg\"\nvacuum = \""
         << (work / "vacuum.npy").string() << "\"\nsubpixel = \"poly\"\n"
         << "corr_power = " << double(p["corrPower"]) << "\nsigma = " << double(p["sigma"])
         << "\nedge_boundary = " << int(p["edgeBoundary"])
         << "\nmin_relative_intensity = " << double(p["minRelativeIntensity"])
         << "\nmin_peak_spacing = " << double(p["minPeakSpacing"])
         << "\nmax_num_peaks = " << int(p["maxNumPeaks"]) << "\n"
         << "[[operators]]\ntype = \"origin\"\nname = \"origin\"\nbragg = \"bragg\"\n"
         << "[[operators]]\ntype = \"bragg_vector_map\"\nname = \"bvm\"\nbragg = \"bragg\"\n"
         << "origin = \"origin\"\n"
         << "[[operators]]\ntype = \"strain_map\"\nname = \"strain\"\nbragg = \"bragg\"\n"
         << "g1 = [" << double(g["g1"][0]) << ", " << double(g["g1"][1]) << "]\n"
         << "g2 = [" << double(g["g2"][0]) << ", " << double(g["g2"][1]) << "]\n"
         << "index_tolerance = " << tol << "\nreference_region = [0, " << h.scan_rows / 4 << ", 0, "
         << h.scan_cols / 4 << "]\n";
    const auto config = config::Config::parse(toml.str(), (work / "bench.toml").string());
    std::vector<std::unique_ptr<Operator>> ops;
    std::vector<OutputInfo> infos;
    for (const auto& oc : config.operators()) {
      ops.push_back(ops::make_operator(oc, config).op);
      infos.push_back({oc.name, oc.type, {}, {}});
    }
    link_operator_inputs(ops);
    for (std::size_t o = 0; o < ops.size(); ++o) {
      ops[o]->start(h);
      infos[o].spec = ops[o]->outputs();
    }
    const auto levels = dependency_levels(ops);

    // Batches over the scan, each with its results area.
    const std::uint64_t n = h.scan_size();
    std::vector<FrameBatch> batches((n + batch - 1) / batch);
    for (std::size_t b = 0; b < batches.size(); ++b) {
      auto& fb = batches[b];
      fb.series = &h;
      fb.capacity = batch;
      fb.frame_bytes = h.frame_bytes();
      fb.pixels = const_cast<std::byte*>(reinterpret_cast<const std::byte*>(pixels.data())) +
                  b * batch * h.frame_bytes();
      fb.count = static_cast<std::uint32_t>(std::min<std::uint64_t>(batch, n - b * batch));
      fb.index.resize(batch);
      for (std::uint32_t i = 0; i < fb.count; ++i) fb.index[i] = b * batch + i;
      fb.results.resize(ops.size());
      for (std::size_t o = 0; o < ops.size(); ++o) {
        fb.results[o].scalars_per_frame = std::uint32_t(infos[o].spec.scalars.size());
        fb.results[o].max_peaks = infos[o].spec.max_peaks;
        fb.results[o].resize(batch);
      }
    }
    auto run_level = [&](std::size_t level, FrameBatch& fb) {
      for (std::size_t o : levels[level]) ops[o]->process(fb, fb.results[o]);
    };
    // Times `body` over whole passes of the scan (first pass a warm-up) until min_seconds.
    auto timed = [&](auto&& body) {
      body();
      std::uint64_t frames = 0;
      const double c0 = cpu_seconds();
      const auto t0 = Clock::now();
      double wall = 0;
      do {
        body();
        frames += n;
        wall = std::chrono::duration<double>(Clock::now() - t0).count();
      } while (wall < min_seconds);
      return std::pair<double, double>{wall / double(frames),
                                       (cpu_seconds() - c0) / double(frames)};
    };

    const auto bragg = timed([&] {
      for (auto& fb : batches) run_level(0, fb);
    });
    ResultStore store;
    const auto physics = timed([&] {
      store.start(h, infos);
      for (std::size_t o = 1; o < ops.size(); ++o) ops[o]->start(h);
      for (auto& fb : batches) {
        for (std::size_t l = 1; l < levels.size(); ++l) run_level(l, fb);
        store.consume(fb);
        for (auto& op : ops) op->reduce(fb, store);
      }
    });
    // The consume() alone (the engine does it with or without these operators).
    const auto consume = timed([&] {
      store.start(h, infos);
      for (auto& fb : batches) store.consume(fb);
    });
    // preview() and conclude() once each, on the full store.
    store.start(h, infos);
    for (std::size_t o = 1; o < ops.size(); ++o) ops[o]->start(h);
    for (auto& fb : batches) {
      for (std::size_t l = 1; l < levels.size(); ++l) run_level(l, fb);
      store.consume(fb);
      for (auto& op : ops) op->reduce(fb, store);
    }
    auto t0 = Clock::now();
    const int kPreviews = 20;
    for (int r = 0; r < kPreviews; ++r) {
      for (auto& op : ops) (void)op->preview(store);
    }
    const double preview = std::chrono::duration<double>(Clock::now() - t0).count() / kPreviews;
    for (std::size_t o = 0; o < ops.size(); ++o) store.add_series_images(o, ops[o]->finish());
    t0 = Clock::now();
    for (std::size_t o = 0; o < ops.size(); ++o)
      store.add_series_images(o, ops[o]->conclude(store));
    const double conclude = std::chrono::duration<double>(Clock::now() - t0).count();

    // origin mode "com" (get_origin on the pixels: a Gaussian of sigma r and a masked CoM per
    // frame), on its own: what it costs when there is no bragg_disks operator to read.
    double com_wall = 0, com_cpu = 0;
    {
      const auto cconf = config::Config::parse(
          "[input]\nendpoint = \"tcp://127.0.0.1:5555\"\n[[operators]]\ntype = \"origin\"\n"
          "name = \"o\"\nmode = \"com\"\nradius = " +
              std::to_string(double(meta["template"]["alpha"])) + "\n",
          (work / "com.toml").string());
      auto op = ops::make_operator(cconf.operators()[0], cconf).op;
      op->start(h);
      std::vector<FrameBatch> cb(batches.size());
      for (std::size_t b = 0; b < batches.size(); ++b) {
        cb[b] = batches[b];
        cb[b].results.assign(1, {});
        cb[b].results[0].scalars_per_frame = 2;
        cb[b].results[0].resize(batch);
      }
      const auto t = timed([&] {
        for (auto& fb : cb) op->process(fb, fb.results[0]);
      });
      com_wall = t.first;
      com_cpu = t.second;
    }
    // dpc's scan-wide solve (conclude, and each live preview on its own thread) by scan size.
    std::string dpc_line;
    for (std::uint32_t side : {64u, 128u, 256u}) {
      std::vector<double> x(std::size_t(side) * side), y(x.size());
      for (std::size_t i = 0; i < x.size(); ++i) {
        x[i] = std::sin(0.01 * double(i));
        y[i] = std::cos(0.013 * double(i));
      }
      const auto t0d = Clock::now();
      (void)ops::solve_dpc(x, y, side, side, ops::DpcParams{});
      dpc_line += " dpc_" + std::to_string(side) + "x" + std::to_string(side) +
                  "_s=" + std::to_string(std::chrono::duration<double>(Clock::now() - t0d).count());
    }

    const double added_wall = physics.first - consume.first;
    const double added_cpu = physics.second - consume.second;
    std::printf(
        "dataset=%s scan=%ux%u frame=%ux%u threads=%d batch=%u\n"
        "bragg_us_per_frame=%.2f bragg_cpu_us_per_frame=%.2f\n"
        "physics_us_per_frame=%.3f physics_cpu_us_per_frame=%.3f (origin+strain process, "
        "consume, reduce; consume alone %.3f)\n"
        "added_us_per_frame=%.3f added_cpu_us_per_frame=%.3f ratio_wall=%.4f ratio_cpu=%.4f\n"
        "preview_ms=%.3f conclude_ms=%.3f\n"
        "origin_com_us_per_frame=%.2f origin_com_cpu_us_per_frame=%.2f\n"
        "%s\n",
        dir.filename().string().c_str(),
        h.scan_rows,
        h.scan_cols,
        h.frame_rows,
        h.frame_cols,
        nthreads,
        batch,
        1e6 * bragg.first,
        1e6 * bragg.second,
        1e6 * physics.first,
        1e6 * physics.second,
        1e6 * consume.first,
        1e6 * added_wall,
        1e6 * added_cpu,
        added_wall / bragg.first,
        added_cpu / bragg.second,
        1e3 * preview,
        1e3 * conclude,
        1e6 * com_wall,
        1e6 * com_cpu,
        dpc_line.c_str() + 1);
  } catch (const std::exception& e) {
    std::cerr << "bench_physics: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
