// SPDX-License-Identifier: GPL-3.0-or-later
// bench_bragg_cpu: throughput of BraggDisksOp (the CPU Bragg disk detector) on frames from a raw
// file.
//
// The frames go through the operator exactly as the engine calls it: batches of --batch frames,
// each processed by BraggDisksOp::process (a TBB parallel_for over the batch's frames). The frame
// set is replayed until --min-seconds have passed; the first pass is a warm-up (per-thread FFTW
// plans) and is not timed. Prints one line of key=value results, frames/s and GB/s of input pixels
// included, and optionally writes the peak count of every frame (first pass) as text for comparison
// with py4DSTEM.
//
// Usage: bench_bragg_cpu --data F.raw --frames N --size Q|RxC --template T.raw [--dtype u16]
//          [--subpixel poly|multicorr|pixel] [--precision f32|f64] [--edge-boundary 4]
//          [--min-peak-spacing 9] [--sigma 2] [--min-relative-intensity 0.005] [--max-num-peaks 70]
//          [--upsample-factor 16] [--multicorr-method auto|fft|direct] [--threads 0 (all)]
//          [--fft-planner measure|patient] [--fft-wisdom FILE (loaded if present, saved after)]
//          [--batch 64] [--min-seconds 3] [--counts-out counts.txt] [--peaks-out peaks.csv]
#include <sys/resource.h>
#include <tbb/global_control.h>
#include <tbb/info.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "operators/bragg_disks/bragg_disks.hpp"
#include "operators/bragg_disks/fftw_plan.hpp"

using namespace stemflow;
using namespace stemflow::ops;

namespace {

// CPU seconds (user + system) of the whole process: a rate per CPU-second is what the frames cost,
// whatever else shares the machine.
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

std::vector<std::byte> read_file(const std::string& path, std::size_t bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<std::byte> v(bytes);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(bytes));
  if (static_cast<std::size_t>(f.gcount()) != bytes) {
    throw std::runtime_error(path + " holds fewer than the " + std::to_string(bytes) +
                             " bytes asked");
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) {
      std::cerr << "unexpected argument " << k << "\n";
      return 2;
    }
    a[k.substr(2)] = argv[i + 1];
  }
  const auto get = [&](const std::string& k, const std::string& def) {
    auto it = a.find(k);
    return it == a.end() ? def : it->second;
  };
  try {
    const std::string data_path = get("data", "");
    const std::string tmpl_path = get("template", "");
    if (data_path.empty() || tmpl_path.empty())
      throw std::runtime_error("--data and --template are required");
    const auto frames = static_cast<std::uint32_t>(std::stoul(get("frames", "0")));
    // --size Q (square) or RxC (the paper's 420x422 and 1792x1920 frames; bench/seed).
    const std::string size = get("size", "0");
    const auto x = size.find('x');
    const auto rows = static_cast<std::uint32_t>(std::stoul(size.substr(0, x)));
    const auto cols =
        x == std::string::npos ? rows : static_cast<std::uint32_t>(std::stoul(size.substr(x + 1)));
    const auto dtype = parse_dtype(get("dtype", "u16"));
    if (!dtype || frames == 0 || rows == 0 || cols == 0)
      throw std::runtime_error("need --frames, --size and a valid --dtype");

    BraggDisksParams p;
    p.sigma = std::stod(get("sigma", "2"));
    p.corr_power = std::stod(get("corr-power", "1"));
    p.edge_boundary = std::stoi(get("edge-boundary", "4"));
    p.min_peak_spacing = std::stod(get("min-peak-spacing", "9"));
    p.min_relative_intensity = std::stod(get("min-relative-intensity", "0.005"));
    p.max_num_peaks = std::stoi(get("max-num-peaks", "70"));
    p.upsample_factor = std::stoi(get("upsample-factor", "16"));
    const auto sp = parse_subpixel(get("subpixel", "poly"));
    const auto prec = parse_precision(get("precision", "f32"));
    const auto mm = parse_multicorr_method(get("multicorr-method", "auto"));
    const auto planner = parse_fft_planner(get("fft-planner", "measure"));
    if (!sp || !prec || !mm || !planner) {
      throw std::runtime_error("bad --subpixel, --precision, --multicorr-method or --fft-planner");
    }
    p.fft_planner = *planner;
    p.subpixel = *sp;
    p.precision = *prec;
    p.multicorr_method = *mm;

    const int threads = std::stoi(get("threads", "0"));
    std::unique_ptr<tbb::global_control> gc;
    if (threads > 0) {
      gc = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                 threads);
    }

    SeriesHeader h;
    h.scan_rows = 1;
    h.scan_cols = frames;
    h.frame_rows = rows;
    h.frame_cols = cols;
    h.dtype = *dtype;
    auto data = read_file(data_path, std::size_t{frames} * h.frame_bytes());
    const auto tbytes = read_file(tmpl_path, std::size_t{rows} * cols * sizeof(double));
    ProbeKernel k{rows, cols, std::vector<double>(std::size_t{rows} * cols)};
    std::memcpy(k.values.data(), tbytes.data(), tbytes.size());

    const std::string wisdom = get("fft-wisdom", "");
    if (!wisdom.empty()) fft::load_wisdom(wisdom);
    BraggDisksOp op("bragg_disks", p, k);
    op.start(h);
    const auto spec = op.outputs();
    const auto batch_frames = std::min<std::uint32_t>(frames, std::stoul(get("batch", "64")));

    // One result area per batch position, reused (as the engine's pool slots are).
    OperatorResults res;
    res.scalars_per_frame = static_cast<std::uint32_t>(spec.scalars.size());
    res.max_peaks = spec.max_peaks;
    res.resize(batch_frames);
    std::vector<std::uint32_t> counts(frames, 0);
    std::vector<std::vector<Peak>> first_peaks(frames);
    std::uint64_t failed = 0;

    const auto run_pass = [&](bool record) {
      for (std::uint32_t f0 = 0; f0 < frames; f0 += batch_frames) {
        FrameBatch b;
        b.series = &h;
        b.frame_bytes = h.frame_bytes();
        b.count = b.capacity = std::min(batch_frames, frames - f0);
        b.pixels = data.data() + std::size_t{f0} * h.frame_bytes();
        op.process(b, res);
        if (record) {
          for (std::uint32_t i = 0; i < b.count; ++i) {
            counts[f0 + i] = res.peak_counts[i];
            failed += res.failed[i];
            const auto pk = std::as_const(res).frame_peaks(i);
            first_peaks[f0 + i].assign(pk.begin(), pk.end());
          }
        }
      }
    };
    run_pass(true);  // warm-up: every thread's workspace and FFTW plans
    if (!wisdom.empty()) fft::save_wisdom(wisdom);
    const double min_seconds = std::stod(get("min-seconds", "3"));
    std::uint64_t done = 0;
    const double cpu0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    double elapsed = 0;
    do {
      run_pass(false);
      done += frames;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } while (elapsed < min_seconds);

    const double cpu = cpu_seconds() - cpu0;
    std::uint64_t total_peaks = 0;
    for (auto c : counts) total_peaks += c;
    const double fps = double(done) / elapsed;
    const double gbps = fps * double(h.frame_bytes()) / 1e9;
    std::printf(
        "size=%u subpixel=%s precision=%s frames=%u timed_frames=%llu seconds=%.3f fps=%.1f "
        "GBps=%.4f cpu_seconds=%.3f fps_per_cpu_second=%.1f ms_per_frame_per_thread=%.4f "
        "threads=%d mean_peaks=%.3f failed=%llu\n",
        rows,
        std::string(subpixel_name(p.subpixel)).c_str(),
        std::string(precision_name(p.precision)).c_str(),
        frames,
        static_cast<unsigned long long>(done),
        elapsed,
        fps,
        gbps,
        cpu,
        double(done) / cpu,
        1e3 / fps * (threads > 0 ? threads : tbb::info::default_concurrency()),
        threads > 0 ? threads : tbb::info::default_concurrency(),
        double(total_peaks) / frames,
        static_cast<unsigned long long>(failed));
    if (const auto out = get("counts-out", ""); !out.empty()) {
      std::ofstream f(out);
      for (auto c : counts) f << c << "\n";
    }
    if (const auto out = get("peaks-out", ""); !out.empty()) {
      std::ofstream f(out);
      f.precision(17);
      f << "frame,i,qx,qy,intensity\n";
      for (std::uint32_t i = 0; i < frames; ++i) {
        for (std::size_t j = 0; j < first_peaks[i].size(); ++j) {
          const auto& pk = first_peaks[i][j];
          f << i << "," << j << "," << pk.qx << "," << pk.qy << "," << pk.intensity << "\n";
        }
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_bragg_cpu: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
