// SPDX-License-Identifier: GPL-3.0-or-later
// stemflow-sim: a detector simulator speaking stemflow's wire protocols.
//   stemflow-sim synth --scan 64x64 --frame 128x128 [--dtype u16] [--rate HZ] [--seed N]
//                      (--connect ENDPOINT | --bind ENDPOINT | --out FILE.npy|FILE.raw)
//                      [--protocol native|dectris-stream2|dectris-stream1|merlin] [--codec bslz4]
//                      [--no-hash (dectris-stream1: no md5 of each blob)]
//                      [--merlin-raw 1|6|12|24 [--merlin-layout auto|1x1|2x2|2x2G]]
//                      [--loop N] [--inject drop=P,...] [--inject-log FILE]
//   stemflow-sim replay FILE [--format F] [--scan RxC] --protocol P [--rate HZ] [--loop N] ...
//                      (--connect ENDPOINT | --bind ENDPOINT)
// The same seed gives the same frames whether they are streamed or written, so a test can stream a
// scan and compare the engine's results with a direct computation on the written file.
#include <oneapi/tbb/parallel_for.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>

#include "ingest/npy.hpp"
#include "ingest/replay/frame_reader.hpp"
#include "pipeline/core/expected.hpp"
#include "sim/native_sender.hpp"
#include "sim/send_cli.hpp"
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
void render_block(const stemflow::sim::SynthScan& scan,
                  std::uint64_t first,
                  std::uint64_t n,
                  std::size_t frame_bytes,
                  std::vector<std::byte>& out) {
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
  synth->add_option("--series-id", series_id, "series id sent in the stream")
      ->capture_default_str();
  synth->add_option("--unique",
                    unique,
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
  stemflow::sim::SendCli synth_send;
  synth_send.add_to(*synth);

  // replay: a recorded scan in any protocol.
  auto* replay = app.add_subcommand("replay", "send a recorded scan (raw, npy, emd, dectris, mib)");
  std::string replay_path, replay_format, replay_scan, replay_frame, replay_dtype = "u16";
  std::uint64_t replay_header_bytes = 0;
  stemflow::sim::SendCli replay_send;
  replay->add_option("file", replay_path, "the recorded file")->required();
  replay->add_option("--format", replay_format, "raw, npy, emd, dectris, mib (default: detected)");
  replay->add_option("--scan", replay_scan, "scan shape RxC when the file does not record it");
  replay->add_option("--frame", replay_frame, "raw files: frame shape QxC");
  replay->add_option("--dtype", replay_dtype, "raw files: u8, u16, u32 or f32")
      ->capture_default_str();
  replay->add_option(
      "--header-bytes", replay_header_bytes, "raw files: bytes before the first frame");
  replay->add_option("--rate", rate, "frames/s (default: as fast as possible)");
  replay->add_option("--series-id", series_id, "series id of the first series")
      ->capture_default_str();
  replay->add_option("--unique", unique, "read and encode this many frames once and cycle them");
  replay->add_option("--hwm", hwm, "ZeroMQ send high-water mark (messages)")->capture_default_str();
  replay
      ->add_option("--linger-ms", linger_ms, "how long to wait at exit for queued frames to leave")
      ->capture_default_str();
  auto* rdest = replay->add_option_group("destination", "where the scan goes");
  rdest->add_option("--connect", connect, "connect to ENDPOINT (engine binds)");
  rdest->add_option(
      "--bind", bind, "bind ENDPOINT[,ENDPOINT...] (engine connects); merlin listens");
  rdest->require_option(1);
  replay_send.add_to(*replay);
  CLI11_PARSE(app, argc, argv);
  spdlog::set_pattern("[%H:%M:%S.%e] [sim] [%^%l%$] %v");

  try {
    if (*replay) {
      stemflow::ingest::RawLayout raw;
      if (!replay_frame.empty()) {
        const auto [r, c] = parse_shape(replay_frame, "--frame");
        raw.frame_shape = {r, c};
      }
      const auto dt = stemflow::parse_dtype(replay_dtype);
      if (!dt) throw stemflow::ConfigError("--dtype must be u8, u16, u32 or f32");
      raw.dtype = *dt;
      raw.header_bytes = replay_header_bytes;
      auto reader = stemflow::ingest::open_frame_reader(replay_path, replay_format, raw);
      const auto& info = reader->info();
      stemflow::SeriesHeader h;
      h.series_id = series_id;
      h.frame_rows = info.frame_rows;
      h.frame_cols = info.frame_cols;
      h.dtype = info.dtype;
      h.detector = "replay:" + info.format;
      if (!replay_scan.empty()) {
        std::tie(h.scan_rows, h.scan_cols) = parse_shape(replay_scan, "--scan");
      } else if (info.scan_shape[0] != 0) {
        h.scan_rows = info.scan_shape[0];
        h.scan_cols = info.scan_shape[1];
      } else {
        h.scan_rows = 1;
        h.scan_cols = static_cast<std::uint32_t>(info.frames);
      }
      if (h.scan_size() > info.frames) {
        throw stemflow::ConfigError("the scan has " + std::to_string(h.scan_size()) +
                                    " positions, the file " + std::to_string(info.frames) +
                                    " frames");
      }
      // The reader keeps one file position: frames are read one at a time, under a lock, and the
      // encoding around it runs in parallel.
      std::mutex read_mutex;
      auto render = [&](std::uint64_t i, std::span<std::byte> out) {
        std::lock_guard lock(read_mutex);
        auto r = reader->read_frame(i, {reinterpret_cast<std::uint8_t*>(out.data()), out.size()});
        if (!r) throw std::runtime_error("frame " + std::to_string(i) + ": " + r.error().message);
      };
      return stemflow::sim::send_command(replay_send,
                                         h,
                                         render,
                                         bind.empty() ? connect : bind,
                                         !bind.empty(),
                                         hwm,
                                         linger_ms,
                                         rate,
                                         unique);
    }
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
        stemflow::ingest::write_npy_header(
            f, p.dtype, {p.scan_rows, p.scan_cols, p.frame_rows, p.frame_cols});
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

    if (synth_send.needed()) {
      return stemflow::sim::send_command(
          synth_send,
          h,
          [&](std::uint64_t i, std::span<std::byte> o) { scan.render(i, o); },
          bind.empty() ? connect : bind,
          !bind.empty(),
          hwm,
          linger_ms,
          rate,
          unique);
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
    spdlog::info("{} {}: scan {}x{}, frames {}x{} {}{}",
                 so.bind ? "bound to" : "connected to",
                 so.endpoint,
                 p.scan_rows,
                 p.scan_cols,
                 p.frame_rows,
                 p.frame_cols,
                 dtype_s,
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
    spdlog::info("sent {} frames in {:.2f} s ({:.0f} frames/s, {:.1f} MB/s)",
                 total,
                 s,
                 total / s,
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
