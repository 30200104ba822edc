// SPDX-License-Identifier: GPL-3.0-or-later
// bench_gpu: end-to-end throughput of the GPU operators. u16 frames of the reference generator
// (sim/synth.hpp) stream from pinned host memory through the full operator set (Bragg disks, poly;
// three virtual detectors; centre of mass) to results in host memory, for 128^2, 256^2 and 512^2
// frames. In the same run it measures the host-to-device bandwidth (so the PCIe-bound frame rate
// is known for this card and slot) and, in a serialised profiling pass with CUDA events, the GPU's
// time per stage (copy in, virtual imaging, FFT, peak finding, copy out).
//
// Usage: bench_gpu [--sizes 128,256,512] [--seconds 3] [--slots 3] [--batch N] [--frames N]
//                  [--dump DIR] [--dump-frames 128:4096,256:1600,512:400]
// --dump writes, per size, DIR/<size>/data_uint16.raw (the first frames of the host buffer),
// template_float64.raw, params.txt and counts.txt (stemflow's peak count per frame), for
// bench/gpu/py4dstem_cuda.py to run py4DSTEM's CUDA path on the same frames.
//
// Prints a table and one "RESULT key=value ..." line per size (bench/gpu/run.sh collects those).
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "operators/gpu/batch_processor.hpp"
#include "operators/gpu/cuda_check.hpp"
#include "sim/synth.hpp"

using namespace stemflow;
namespace fs = std::filesystem;

namespace {

struct Options {
  std::vector<std::uint32_t> sizes = {128, 256, 512};
  double seconds = 3;
  int slots = 3;
  std::uint32_t batch = 0;  // 0 = per size default
  std::size_t frames = 0;   // frames in the host ring; 0 = ~256 MiB
  std::string dump;
  std::map<std::uint32_t, std::size_t> dump_frames = {{128, 4096}, {256, 1600}, {512, 400}};
};

std::vector<std::string> split(const std::string& s, char c) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string t;
  while (std::getline(ss, t, c)) out.push_back(t);
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_gpu: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--sizes") {
      o.sizes.clear();
      for (const auto& s : split(next(), ',')) o.sizes.push_back(std::uint32_t(std::stoul(s)));
    } else if (a == "--seconds") {
      o.seconds = std::stod(next());
    } else if (a == "--slots") {
      o.slots = std::stoi(next());
    } else if (a == "--batch") {
      o.batch = std::uint32_t(std::stoul(next()));
    } else if (a == "--frames") {
      o.frames = std::stoul(next());
    } else if (a == "--dump") {
      o.dump = next();
    } else if (a == "--dump-frames") {
      for (const auto& kv : split(next(), ',')) {
        const auto p = split(kv, ':');
        if (p.size() == 2) o.dump_frames[std::uint32_t(std::stoul(p[0]))] = std::stoul(p[1]);
      }
    } else {
      std::fprintf(stderr,
                   "usage: bench_gpu [--sizes 128,256,512] [--seconds S] [--slots N] "
                   "[--batch N] [--frames N] [--dump DIR] [--dump-frames Q:N,...]\n");
      std::exit(2);
    }
  }
  return o;
}

// ---- the workload -----------------------------------------------------------------------------

//! Frames per copy: >= 16 MiB per batch (docs/perf-limits.md section 4a: batched copies reach the
//! full PCIe rate).
std::uint32_t default_batch(std::uint32_t q) { return q <= 128 ? 512 : q <= 256 ? 256 : 64; }

//! Frames in the pinned host ring the batches cycle through (~256 MiB: far more than the L2/L3).
std::size_t host_frames(std::uint32_t q) {
  return std::max<std::size_t>(512, (std::size_t(256) << 20) / (std::size_t(q) * q * 2));
}

//! py4DSTEM's 'sigmoid' kernel recipe on an analytic probe (the generator's central disk, R = 0.035
//! Q, w = Q / 128, centred at the corner): probe / sum(probe) - s / sum(s), s = cos^2 edge from R
//! to 2R.
std::vector<double> sigmoid_kernel(std::uint32_t q) {
  const double R = 0.035 * q, w = q / 128.0, ri = R, ro = 2 * R;
  std::vector<double> probe(std::size_t(q) * q), s(probe.size());
  for (std::uint32_t i = 0; i < q; ++i) {
    for (std::uint32_t j = 0; j < q; ++j) {
      const double di = std::min<double>(i, q - i), dj = std::min<double>(j, q - j);
      const double r = std::hypot(di, dj);
      probe[std::size_t(i) * q + j] = 1.0 / (1.0 + std::exp(4 * (r - R) / w));
      const double t = std::clamp((r - ri) / (ro - ri), 0.0, 1.0);
      const double c = std::cos(std::numbers::pi / 2 * t);
      s[std::size_t(i) * q + j] = c * c;
    }
  }
  double sp = 0, ss = 0;
  for (std::size_t k = 0; k < probe.size(); ++k) {
    sp += probe[k];
    ss += s[k];
  }
  std::vector<double> k(probe.size());
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = probe[i] / sp - s[i] / ss;
  return k;
}

ops::BraggDisksParams bragg_params(std::uint32_t q) {
  ops::BraggDisksParams p;  // docs/py4dstem.md section 5: the benchmark parameters
  p.corr_power = 1;
  p.sigma = 2;
  p.edge_boundary = int(q / 32);
  p.min_relative_intensity = 0.005;
  p.relative_to_peak = 0;
  p.min_absolute_intensity = 0;
  p.min_peak_spacing = 9.0 * q / 128.0;
  p.max_num_peaks = 70;
  p.upsample_factor = 16;
  p.subpixel = ops::Subpixel::kPoly;
  return p;
}

//! Three virtual detectors (py4DSTEM's strict circle / annulus, half-open rectangle) around the
//! generator's origin, and the whole-frame CoM region.
std::vector<gpu::DetectorSpec> detectors(std::uint32_t q) {
  const double cx = q / 2.0 + 0.3, cy = q / 2.0 - 0.2, R = 0.035 * q;
  std::vector<gpu::DetectorSpec> d(3, {true, std::vector<double>(std::size_t(q) * q, 0.0)});
  for (std::uint32_t i = 0; i < q; ++i) {
    for (std::uint32_t j = 0; j < q; ++j) {
      const double r2 = (i - cx) * (i - cx) + (j - cy) * (j - cy);
      const std::size_t k = std::size_t(i) * q + j;
      d[0].weights[k] = r2 < (1.2 * R) * (1.2 * R);                            // bright field
      d[1].weights[k] = r2 > (2 * R) * (2 * R) && r2 < (0.3 * q) * (0.3 * q);  // annular dark field
      d[2].weights[k] = i >= q / 4 && i < q / 2 && j >= q / 4 && j < 3 * q / 4;  // rectangle
    }
  }
  return d;
}

struct ResultSet {
  std::vector<OperatorResults> r;  // bragg, 3 detectors, com
  gpu::UnpackTargets targets() {
    gpu::UnpackTargets t;
    t.bragg = {&r[0]};
    t.detectors = {&r[1], &r[2], &r[3]};
    t.com = {&r[4]};
    return t;
  }
};

ResultSet make_results(std::uint32_t capacity) {
  ResultSet s;
  s.r.resize(5);
  s.r[0].scalars_per_frame = 1;
  s.r[0].max_peaks = 70;
  for (int d = 1; d <= 3; ++d) s.r[d].scalars_per_frame = 1;
  s.r[4].scalars_per_frame = 3;
  for (auto& r : s.r) r.resize(capacity);
  return s;
}

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "bench_gpu: %s\n", what.c_str());
    std::exit(1);
  }
}

//! Host-to-device bandwidth from the pinned ring: one bulk copy of `bytes`, and copies of one batch
//! each (what the pipeline does); 10 timed repetitions after 2 warm-ups, CUDA events.
std::pair<double, double> h2d_bandwidth(const std::byte* host,
                                        std::size_t bytes,
                                        std::size_t batch_bytes) {
  void* dev = nullptr;
  STEMFLOW_CUDA_CHECK(cudaMalloc(&dev, bytes));
  cudaStream_t s;
  STEMFLOW_CUDA_CHECK(cudaStreamCreate(&s));
  cudaEvent_t a, b;
  STEMFLOW_CUDA_CHECK(cudaEventCreate(&a));
  STEMFLOW_CUDA_CHECK(cudaEventCreate(&b));
  const auto time_copies = [&](std::size_t chunk) {
    for (int rep = 0; rep < 12; ++rep) {
      if (rep == 2) STEMFLOW_CUDA_CHECK(cudaEventRecord(a, s));
      for (std::size_t off = 0; off + chunk <= bytes; off += chunk) {
        STEMFLOW_CUDA_CHECK(cudaMemcpyAsync(
            static_cast<std::byte*>(dev) + off, host + off, chunk, cudaMemcpyHostToDevice, s));
      }
    }
    STEMFLOW_CUDA_CHECK(cudaEventRecord(b, s));
    STEMFLOW_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    STEMFLOW_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    return double(bytes / chunk * chunk) * 10 / (ms * 1e-3) / 1e9;
  };
  const double bulk = time_copies(bytes);
  const double batched = time_copies(batch_bytes);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaStreamDestroy(s);
  cudaFree(dev);
  return {bulk, batched};
}

void write_file(const fs::path& p, const void* data, std::size_t bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(static_cast<const char*>(data), std::streamsize(bytes));
  check(bool(f), "cannot write " + p.string());
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  std::string why;
  if (gpu::cuda_device_count(&why) == 0) {
    std::printf("bench_gpu: no CUDA device (%s); nothing to measure\n", why.c_str());
    return 3;
  }
  const auto dev = gpu::cuda_device_info(0);
  std::printf("device: %s (sm_%d%d, %d SMs, %.1f GiB)\n",
              dev.name.c_str(),
              dev.cc_major,
              dev.cc_minor,
              dev.multiprocessors,
              double(dev.memory_bytes) / double(1ull << 30));
  std::printf(
      "workload: u16 frames of the reference generator, Bragg disks (poly, sigma 2, "
      "template correlation) + 3 virtual detectors + centre of mass, from pinned host "
      "memory to results in host memory\n\n");

  for (const std::uint32_t q : opt.sizes) {
    const std::uint32_t batch = opt.batch ? opt.batch : default_batch(q);
    const std::size_t frame_bytes = std::size_t(q) * q * 2;
    std::size_t n_host = opt.frames ? opt.frames : host_frames(q);
    n_host = (n_host + batch - 1) / batch * batch;  // whole batches

    // The frames: rendered once into pinned memory (many threads), then streamed in a ring.
    sim::SynthParams sp;
    sp.frame_rows = sp.frame_cols = q;
    sp.dtype = Dtype::kU16;
    sp.scan_cols = n_host % 64 == 0 ? 64 : std::uint32_t(n_host);
    sp.scan_rows = std::uint32_t(n_host / sp.scan_cols);
    sp.seed = 100 + q;
    n_host = sp.scan_size();
    const sim::SynthScan scan(sp);
    auto* host = static_cast<std::byte*>(gpu::alloc_pinned(n_host * frame_bytes));
    {
      const unsigned nt = std::max(1u, std::thread::hardware_concurrency());
      std::vector<std::thread> pool;
      for (unsigned t = 0; t < nt; ++t) {
        pool.emplace_back([&, t] {
          for (std::size_t i = t; i < n_host; i += nt)
            scan.render(i, {host + i * frame_bytes, frame_bytes});
        });
      }
      for (auto& th : pool) th.join();
    }

    gpu::ProcessorSpec spec;
    spec.rows = spec.cols = q;
    spec.dtype = Dtype::kU16;
    spec.capacity = batch;
    const auto kernel = sigmoid_kernel(q);
    spec.bragg.push_back({bragg_params(q), ops::ProbeKernel{q, q, kernel}});
    spec.detectors = detectors(q);
    spec.com.push_back({true, std::vector<double>(std::size_t(q) * q, 1.0)});
    spec.slots = opt.slots;

    // ---- end-to-end throughput, pipelined over the stream slots ----
    double fps = 0, peaks_per_frame = 0;
    std::size_t device_mib = 0, slots_used = 0;
    {
      gpu::BatchProcessor proc(spec);
      device_mib = proc.device_bytes() >> 20;
      slots_used = proc.slots();
      std::vector<ResultSet> results;
      for (std::size_t s = 0; s < slots_used; ++s) results.push_back(make_results(batch));
      const std::size_t batches_in_ring = n_host / batch;
      std::vector<gpu::BatchProcessor::Ticket> tickets(slots_used);
      std::size_t next = 0, done = 0;
      const auto run_batches = [&](std::size_t count) {
        const auto t0 = std::chrono::steady_clock::now();
        const std::size_t target = next + count;
        while (done < target) {
          while (next < target && next - done < slots_used) {
            const std::byte* f = host + (next % batches_in_ring) * batch * frame_bytes;
            auto t = proc.submit(f, batch);
            check(t.has_value(), t ? "" : t.error().message);
            tickets[next % slots_used] = *t;
            ++next;
          }
          auto r = proc.complete(tickets[done % slots_used], results[done % slots_used].targets());
          check(r.has_value(), r ? "" : r.error().message);
          ++done;
        }
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      };
      run_batches(2 * slots_used);  // warm-up: first-launch costs, clocks up
      // Calibrate the batch count to ~opt.seconds.
      const double probe = run_batches(4 * slots_used);
      const double per_batch = probe / double(4 * slots_used);
      const std::size_t n_batches = std::max<std::size_t>(
          4 * slots_used, std::size_t(opt.seconds / std::max(per_batch, 1e-6)));
      const double secs = run_batches(n_batches);
      fps = double(n_batches) * batch / secs;
      const auto& last = results[(done - 1) % slots_used].r[0];
      std::uint64_t total = 0;
      for (std::uint32_t i = 0; i < batch; ++i) total += last.peak_counts[i];
      peaks_per_frame = double(total) / batch;
    }

    // ---- PCIe: the bound for this card and slot, measured now ----
    const auto [bw_bulk, bw_batch] = h2d_bandwidth(host, n_host * frame_bytes, batch * frame_bytes);
    const double pcie_fps = bw_bulk * 1e9 / double(frame_bytes);

    // ---- stage shares: one slot, serialised, CUDA events between the stages ----
    gpu::StageTimes st;
    {
      auto pspec = spec;
      pspec.slots = 1;
      pspec.profile = true;
      gpu::BatchProcessor prof(pspec);
      auto rs = make_results(batch);
      const std::size_t ring = n_host / batch;
      const std::size_t n = std::min<std::size_t>(20, ring);
      gpu::StageTimes warm;
      for (std::size_t b = 0; b < n + 2; ++b) {
        auto r = prof.process(host + (b % ring) * batch * frame_bytes, batch, rs.targets());
        check(r.has_value(), r ? "" : r.error().message);
        if (b == 1) warm = prof.stage_times();  // the two warm-up batches leave the profile
      }
      const gpu::StageTimes all = prof.stage_times();
      st.copy_in = all.copy_in - warm.copy_in;
      st.frame_pass = all.frame_pass - warm.frame_pass;
      st.fft = all.fft - warm.fft;
      st.peaks = all.peaks - warm.peaks;
      st.copy_out = all.copy_out - warm.copy_out;
      st.batches = all.batches - warm.batches;
    }
    const double nb = double(std::max<std::uint64_t>(st.batches, 1));
    const double stage_ms[5] = {
        st.copy_in / nb, st.frame_pass / nb, st.fft / nb, st.peaks / nb, st.copy_out / nb};
    const double total_ms = stage_ms[0] + stage_ms[1] + stage_ms[2] + stage_ms[3] + stage_ms[4];
    const char* names[5] = {"copy in",
                            "virtual imaging + CoM",
                            "FFT (convert, R2C, multiply, C2R)",
                            "peak finding (smooth, maxima, sort, filters, poly)",
                            "results copy"};

    std::printf(
        "== %ux%u u16: batches of %u frames (%.1f MiB), %zu stream slots, %zu MiB on the GPU\n",
        q,
        q,
        batch,
        double(batch * frame_bytes) / double(1 << 20),
        slots_used,
        device_mib);
    std::printf("   end-to-end        %10.0f frames/s  (%.1f GB/s of frames), %.1f peaks/frame\n",
                fps,
                fps * double(frame_bytes) / 1e9,
                peaks_per_frame);
    std::printf("   H2D pinned        %10.2f GB/s bulk, %.2f GB/s in batch-sized copies\n",
                bw_bulk,
                bw_batch);
    std::printf("   PCIe-bound rate   %10.0f frames/s  -> pipeline at %.0f %% of it\n",
                pcie_fps,
                100.0 * fps / pcie_fps);
    std::printf("   GPU time per batch, serialised (%.2f ms = %.0f frames/s on one stream):\n",
                total_ms,
                total_ms > 0 ? batch / (total_ms * 1e-3) : 0.0);
    for (int k = 0; k < 5; ++k) {
      std::printf("     %-52s %8.3f ms  %5.1f %%\n",
                  names[k],
                  stage_ms[k],
                  total_ms > 0 ? 100.0 * stage_ms[k] / total_ms : 0.0);
    }
    std::printf(
        "RESULT size=%u batch=%u slots=%zu fps=%.0f pcie_gbs=%.2f pcie_batch_gbs=%.2f "
        "pcie_fps=%.0f ratio=%.3f copy_ms=%.4f vimg_ms=%.4f fft_ms=%.4f peaks_ms=%.4f "
        "out_ms=%.4f peaks_per_frame=%.2f\n\n",
        q,
        batch,
        slots_used,
        fps,
        bw_bulk,
        bw_batch,
        pcie_fps,
        fps / pcie_fps,
        stage_ms[0],
        stage_ms[1],
        stage_ms[2],
        stage_ms[3],
        stage_ms[4],
        peaks_per_frame);
    std::fflush(stdout);

    // ---- frames, template and stemflow's counts for the py4DSTEM peer ----
    if (!opt.dump.empty()) {
      const std::size_t nd = std::min(n_host, opt.dump_frames.count(q) ? opt.dump_frames.at(q) : 0);
      if (nd > 0) {
        const fs::path dir = fs::path(opt.dump) / std::to_string(q);
        fs::create_directories(dir);
        write_file(dir / "data_uint16.raw", host, nd * frame_bytes);
        write_file(dir / "template_float64.raw", kernel.data(), kernel.size() * sizeof(double));
        const auto p = bragg_params(q);
        std::ofstream(dir / "params.txt")
            << "size " << q << "\nframes " << nd << "\nedge_boundary " << p.edge_boundary
            << "\nmin_peak_spacing " << p.min_peak_spacing << "\nsigma " << p.sigma
            << "\nmin_relative_intensity " << p.min_relative_intensity << "\nmax_num_peaks "
            << p.max_num_peaks << "\n";
        // stemflow's counts for the same frames (one more pass, untimed).
        auto cspec = spec;
        cspec.slots = 1;
        gpu::BatchProcessor cproc(cspec);
        auto rs = make_results(batch);
        std::ofstream counts(dir / "counts.txt");
        for (std::size_t first = 0; first < nd; first += batch) {
          const auto n = std::uint32_t(std::min<std::size_t>(batch, nd - first));
          auto r = cproc.process(host + first * frame_bytes, n, rs.targets());
          check(r.has_value(), r ? "" : r.error().message);
          for (std::uint32_t i = 0; i < n; ++i) counts << rs.r[0].peak_counts[i] << "\n";
        }
      }
    }
    gpu::free_pinned(host);
  }
  return 0;
}
