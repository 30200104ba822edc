// SPDX-License-Identifier: GPL-3.0-or-later
// stemflow-sim: a detector simulator speaking stemflow's wire protocols.
//   stemflow-sim synth --scan 64x64 --frame 128x128 [--dtype u16] [--rate HZ] [--seed N]
//                      (--connect ENDPOINT | --bind ENDPOINT | --out FILE.npy|FILE.raw)
// The same seed gives the same frames whether they are streamed or written, so a test can stream a
// scan and compare the engine's results with a direct computation on the written file.
#include <CLI/CLI.hpp>
#include <oneapi/tbb/parallel_for.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "ingest/npy.hpp"
#include "pipeline/expected.hpp"
#include "sim/native_sender.hpp"
#include "sim/synth.hpp"

namespace {

std::pair<std::uint32_t, std::uint32_t> parse_shape(const std::string& s, const char* what) {
  const auto x = s.find('x');
  try {
    if (x == std::string::npos) throw std::invalid_argument(s);
    const auto a = std::stoul(s.substr(0, x)), b = std::stoul(s.substr(x + 1));
    if (a == 0 || b == 0) throw std::invalid_argument(s);
    return {static_cast<std::uint32_t>(a), static_cast<std::uint32_t>(b)};
  } catch (const std::exception&) {
    throw stemflow::ConfigError(std::string(what) + " must look like 64x64, got '" + s + "'");
  }
}

//! Renders frames [first, first + n) of the scan into `out`, in parallel.
void render_block(const stemflow::sim::SynthScan& scan, std::uint64_t first, std::uint64_t n,
                  std::size_t frame_bytes, std::vector<std::byte>& out) {
  tbb::parallel_for(std::uint64_t{0}, n, [&](std::uint64_t i) {
    scan.render(first + i, {out.data() + i * frame_bytes, frame_bytes});
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"stemflow-sim: synthetic 4D-STEM detector"};
  app.require_subcommand(1);
  auto* synth = app.add_subcommand("synth", "stream (or write) a synthetic 4D-STEM scan");
  std::string scan_s = "64x64", frame_s = "128x128", dtype_s = "u16";
  std::string connect, bind, out;
  double rate = 0;
  std::uint64_t seed = 1, series_id = 1, unique = 0;
  int hwm = 256;
  int linger_ms = 60000;
  bool vacuum = false;
  synth->add_option("--scan", scan_s, "scan shape RxC")->capture_default_str();
  synth->add_option("--frame", frame_s, "frame shape QxC")->capture_default_str();
  synth->add_option("--dtype", dtype_s, "u8, u16, u32 or f32")->capture_default_str();
  synth->add_option("--rate", rate, "frames/s (default: as fast as possible)");
  synth->add_option("--seed", seed, "random seed")->capture_default_str();
  synth->add_option("--series-id", series_id, "series id sent in the stream")->capture_default_str();
  synth->add_option("--unique", unique,
                    "render only this many distinct frames and cycle through them (benchmarks: "
                    "the sender is then not limited by rendering)");
  synth->add_flag("--vacuum", vacuum, "probe only: no sample, no Bragg disks");
  synth->add_option("--hwm", hwm, "ZeroMQ send high-water mark (messages)")->capture_default_str();
  synth->add_option("--linger-ms", linger_ms, "how long to wait at exit for queued frames to leave")
      ->capture_default_str();
  auto* dest = synth->add_option_group("destination", "where the scan goes");
  dest->add_option("--connect", connect, "connect a PUSH socket to ENDPOINT (engine binds)");
  dest->add_option("--bind", bind, "bind a PUSH socket to ENDPOINT (engine connects)");
  dest->add_option("--out", out, "write the scan to FILE.npy or FILE.raw instead");
  dest->require_option(1);
  CLI11_PARSE(app, argc, argv);
  spdlog::set_pattern("[%H:%M:%S.%e] [sim] [%^%l%$] %v");

  try {
    stemflow::sim::SynthParams p;
    std::tie(p.scan_rows, p.scan_cols) = parse_shape(scan_s, "--scan");
    std::tie(p.frame_rows, p.frame_cols) = parse_shape(frame_s, "--frame");
    const auto dtype = stemflow::parse_dtype(dtype_s);
    if (!dtype) throw stemflow::ConfigError("--dtype must be u8, u16, u32 or f32");
    p.dtype = *dtype;
    p.seed = seed;
    p.vacuum = vacuum;
    const stemflow::sim::SynthScan scan(p);

    stemflow::SeriesHeader h;
    h.series_id = series_id;
    h.scan_rows = p.scan_rows;
    h.scan_cols = p.scan_cols;
    h.frame_rows = p.frame_rows;
    h.frame_cols = p.frame_cols;
    h.dtype = p.dtype;
    h.detector = "stemflow-sim";
    h.metadata["generator"] = vacuum ? "synth-vacuum" : "synth";
    h.metadata["seed"] = std::to_string(seed);
    const std::size_t fb = h.frame_bytes();
    const std::uint64_t total = h.scan_size();
    constexpr std::uint64_t kBlock = 256;  // frames rendered per parallel block

    if (!out.empty()) {
      std::ofstream f(out, std::ios::binary);
      if (!f) throw stemflow::ConfigError("cannot write " + out);
      if (out.size() > 4 && out.substr(out.size() - 4) == ".npy") {
        stemflow::ingest::write_npy_header(f, p.dtype, {p.scan_rows, p.scan_cols, p.frame_rows, p.frame_cols});
      }
      std::vector<std::byte> block(kBlock * fb);
      for (std::uint64_t first = 0; first < total; first += kBlock) {
        const auto n = std::min(kBlock, total - first);
        render_block(scan, first, n, fb, block);
        f.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(n * fb));
      }
      if (!f.flush()) throw std::runtime_error("write to " + out + " failed");
      spdlog::info("wrote {} frames to {}", total, out);
      return 0;
    }

    // Frames for --unique live as long as the sender (declared first, destroyed last), so they are
    // handed to ZeroMQ without a copy.
    std::vector<std::byte> frames;
    if (unique > 0) {
      unique = std::min(unique, total);
      frames.resize(unique * fb);
      render_block(scan, 0, unique, fb, frames);
    }
    stemflow::sim::SenderOptions so;
    so.endpoint = bind.empty() ? connect : bind;
    so.bind = !bind.empty();
    so.send_hwm = hwm;
    so.linger = std::chrono::milliseconds(linger_ms);
    stemflow::sim::NativeSender sender(so);
    spdlog::info("{} {}: scan {}x{}, frames {}x{} {}{}", so.bind ? "bound to" : "connected to",
                 so.endpoint, p.scan_rows, p.scan_cols, p.frame_rows, p.frame_cols, dtype_s,
                 rate > 0 ? fmt::format(", {} frames/s", rate) : "");

    sender.start(h);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::byte> block(unique > 0 ? 0 : kBlock * fb);
    for (std::uint64_t first = 0; first < total; first += kBlock) {
      const auto n = std::min(kBlock, total - first);
      if (unique == 0) render_block(scan, first, n, fb, block);
      for (std::uint64_t i = 0; i < n; ++i) {
        const std::uint64_t index = first + i;
        if (rate > 0) {
          std::this_thread::sleep_until(
              t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                       std::chrono::duration<double>(double(index) / rate)));
        }
        if (unique > 0) {
          sender.frame(index, {frames.data() + (index % unique) * fb, fb}, true);
        } else {
          sender.frame(index, {block.data() + i * fb, fb});
        }
      }
    }
    sender.end();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("sent {} frames in {:.2f} s ({:.0f} frames/s, {:.1f} MB/s)", total, s, total / s,
                 total * double(fb) / s / 1e6);
    return 0;
  } catch (const stemflow::ConfigError& e) {
    spdlog::error("{}", e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::error("fatal: {}", e.what());
    return 1;
  }
}
