// SPDX-License-Identifier: GPL-3.0-or-later
#include "sim/send_cli.hpp"

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "pipeline/core/expected.hpp"
#include "sim/protocol_sender.hpp"
#include "sim/send_loop.hpp"

namespace stemflow::sim {

namespace {
std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}
}  // namespace

void SendCli::add_to(CLI::App& app) {
  app.add_option("--protocol", protocol, "native, dectris-stream2, dectris-stream1 or merlin")
      ->capture_default_str();
  app.add_option("--codec", codec, "DECTRIS pixel encoding: bslz4, lz4 or none")
      ->capture_default_str();
  app.add_option("--channels",
                 channels,
                 "dectris-stream2 channel names, comma-separated; the frame goes to the first, the "
                 "others carry it + 1")
      ->capture_default_str();
  app.add_flag("--no-hash",
               no_hash,
               "dectris-stream1: leave each image's md5 \"hash\" empty (computing it costs about "
               "1.4 ns per blob byte on the sending thread and limits the send rate)");
  app.add_option("--merlin-raw",
                 merlin_raw,
                 "merlin: send raw (R64) frames of this counter depth, 1, 6, 12 or 24, instead of "
                 "counts; they arrive as u8 (1, 6 bit), u16 (12) or u32 (24) whatever --dtype, and "
                 "values above the depth's maximum are clamped to it (counted in a warning)")
      ->type_name("DEPTH");
  app.add_option("--merlin-layout",
                 merlin_layout,
                 "merlin raw: chip layout 1x1 (one chip: frames of a multiple of 64 pixels), 2x2 "
                 "(a quad: --frame 512x512), 2x2G (a quad with 2-pixel gaps: --frame 514x514, gap "
                 "pixels not sent, arriving as 0) or auto (2x2 for 512x512 frames, 2x2G for "
                 "514x514, else 1x1)")
      ->capture_default_str();
  app.add_option("--loop", loops, "send the scan this many times (series ids counting up)")
      ->capture_default_str();
  app.add_option("--inject",
                 inject,
                 "faults: drop=P,duplicate=P,reorder=P,stall=MS@FRAME,disconnect=FRAME,corrupt=P");
  app.add_option("--inject-log", inject_log, "write the frames each fault touched (JSON) here");
  app.add_option("--fault-seed", fault_seed, "seed of the fault draws")->capture_default_str();
}

int send_command(const SendCli& cli,
                 const SeriesHeader& header,
                 const std::function<void(std::uint64_t, std::span<std::byte>)>& render,
                 const std::string& endpoints,
                 bool bind,
                 int hwm,
                 int linger_ms,
                 double rate,
                 std::uint64_t unique) {
  ProtocolOptions o;
  o.protocol = cli.protocol;
  o.endpoints = split(endpoints);
  o.bind = bind;
  o.send_hwm = hwm;
  o.linger = std::chrono::milliseconds(linger_ms);
  if (cli.codec == "bslz4") {
    o.codec = ingest::codecs::Codec::kBslz4;
  } else if (cli.codec == "lz4") {
    o.codec = ingest::codecs::Codec::kLz4Hdf5;
  } else if (cli.codec == "none") {
    o.codec = ingest::codecs::Codec::kNone;
  } else {
    throw ConfigError("--codec must be bslz4, lz4 or none");
  }
  o.channels = split(cli.channels);
  o.hash = !cli.no_hash;
  o.merlin_raw_depth = cli.merlin_raw;
  o.merlin_layout = cli.merlin_layout;
  if (o.protocol == "merlin" && !bind)
    throw ConfigError("merlin: the detector side listens (--bind)");
  if (cli.merlin_raw == 0 && cli.merlin_layout != "auto") {
    throw ConfigError("--merlin-layout needs --merlin-raw (counts are sent as one 1x1 image)");
  }
  SendParams p;
  p.header = header;
  p.render = render;
  p.unique = unique;
  p.rate = rate;
  p.loops = cli.loops;
  p.faults = FaultPlan::parse(cli.inject, cli.fault_seed);
  auto sender = make_protocol_sender(o);
  std::string pixels;
  if (o.protocol.rfind("dectris", 0) == 0) pixels = ", " + cli.codec;
  if (o.merlin_raw_depth != 0) {
    pixels = fmt::format(", raw R64 {}-bit (layout {}, values above {} clamped)",
                         o.merlin_raw_depth,
                         o.merlin_layout,
                         (std::uint64_t{1} << o.merlin_raw_depth) - 1);
  }
  spdlog::info("{} {} {}: scan {}x{}, frames {}x{} {}{}",
               o.protocol,
               bind ? "bound to" : "connected to",
               endpoints,
               header.scan_rows,
               header.scan_cols,
               header.frame_rows,
               header.frame_cols,
               dtype_name(header.dtype),
               pixels);
  const auto logs = send_series(*sender, p);
  if (!cli.inject_log.empty()) {
    std::ofstream(cli.inject_log) << to_json(logs) << "\n";
  }
  return 0;
}

}  // namespace stemflow::sim
