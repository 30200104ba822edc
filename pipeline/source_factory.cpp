// SPDX-License-Identifier: GPL-3.0-or-later
#include "pipeline/source_factory.hpp"

#include <filesystem>

#include "ingest/dectris/dectris_stream_source.hpp"
#include "ingest/merlin/merlin_source.hpp"
#include "ingest/native/native_source.hpp"
#include "ingest/replay/frame_reader.hpp"
#include "ingest/replay/replay_source.hpp"

namespace stemflow {

SourceMaker source_maker(const config::Config& config, JobRole role) {
  const auto in = config.section("input");
  const auto scan = config.section("scan");
  const auto pipe = config.section("pipeline");
  const auto ms = [](double s) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000.0));
  };
  std::array<std::uint32_t, 2> scan_shape{};
  if (scan.has("shape")) {
    const auto s = scan.get_ints("shape");
    scan_shape = {std::uint32_t(s[0]), std::uint32_t(s[1])};
  }
  const std::string protocol = in.get_string("protocol");
  if (role.ranks > 1 && in.get_string("source") != "file") {
    // Every rank connects its own PULL socket to the detector's PUSH socket, which deals the
    // messages round robin; the rank that gets a start or an end tells the others (role.peers).
    const auto ranks = " with " + std::to_string(role.ranks) + " MPI ranks";
    if (protocol == "merlin") {
      throw ConfigError(in.where("protocol") +
                        ": a Merlin data port takes one TCP client: receive it with one rank"
                        " (no mpirun)" +
                        ranks);
    }
    if (in.get_bool("bind")) {
      throw ConfigError(in.where("bind") + ": each rank connects its own socket to the detector's" +
                        ranks + "; input.bind must be false");
    }
    if (in.has("endpoints") && in.get_strings("endpoints").size() > 1) {
      throw ConfigError(in.where("endpoints") + ": several endpoints" + ranks +
                        " are not supported yet: one endpoint, or one rank");
    }
    if (!role.peers) throw ConfigError(in.where("source") + ": live input" + ranks + " needs MPI");
  }
  if (in.get_string("source") == "zmq" && protocol != "native") {
    std::vector<std::string> endpoints;
    if (in.has("endpoint")) endpoints = in.get_strings("endpoint");
    if (in.has("endpoints")) endpoints = in.get_strings("endpoints");
    if (endpoints.empty())
      throw ConfigError(in.where() + ": protocol \"" + protocol + "\" needs 'endpoint'");
    if (protocol == "merlin") {
      if (endpoints.size() != 1) {
        throw ConfigError(in.where("endpoints") + ": merlin reads one detector data port");
      }
      ingest::MerlinOptions o;
      o.endpoint = endpoints.front();
      o.series_timeout = ms(in.get_double("series_timeout"));
      o.batch_timeout = ms(pipe.get_double("batch_timeout"));
      o.reconnect_interval = ms(in.get_double("reconnect_interval"));
      o.scan_shape = scan_shape;
      return [o](BatchPool& pool) { return std::make_unique<ingest::MerlinSource>(pool, o); };
    }
    ingest::DectrisStreamOptions o;
    o.version = protocol == "dectris-stream1" ? 1 : 2;
    o.endpoints = std::move(endpoints);
    o.bind = in.get_bool("bind");
    o.io_threads = static_cast<int>(in.get_int("io_threads"));
    o.receive_hwm = static_cast<int>(in.get_int("receive_hwm"));
    o.series_timeout = ms(in.get_double("series_timeout"));
    o.batch_timeout = ms(pipe.get_double("batch_timeout"));
    if (in.has("channel")) o.channel = in.get_string("channel");
    o.image_id_base =
        static_cast<std::uint64_t>(std::max<std::int64_t>(in.get_int("image_id_base"), 0));
    o.read_ahead = static_cast<std::size_t>(std::max<std::int64_t>(in.get_int("read_ahead"), 1));
    o.verify_hash = in.get_bool("verify_hash");
    o.scan_shape = scan_shape;
    o.peers = role.peers;
    return [o](BatchPool& pool) { return std::make_unique<ingest::DectrisStreamSource>(pool, o); };
  }
  if (in.get_string("source") == "zmq") {
    ingest::NativeOptions o;
    if (in.has("endpoint")) o.endpoints = in.get_strings("endpoint");
    if (in.has("endpoints")) o.endpoints = in.get_strings("endpoints");
    if (o.endpoints.empty()) throw ConfigError(in.where() + ": source \"zmq\" needs 'endpoint'");
    o.bind = in.get_bool("bind");
    o.receive_hwm = static_cast<int>(in.get_int("receive_hwm"));
    o.series_timeout = ms(in.get_double("series_timeout"));
    o.batch_timeout = ms(pipe.get_double("batch_timeout"));
    o.peers = role.peers;
    return [o](BatchPool& pool) { return std::make_unique<ingest::NativeZmqSource>(pool, o); };
  }
  if (in.get_string("source") == "memory") {
    // The Python package replaces this maker with one over its array (python/src/module.cpp).
    const std::string where = in.where("source");
    return [where](BatchPool&) -> std::unique_ptr<Source> {
      throw ConfigError(where +
                        ": source \"memory\" reads an array given to stemflow.run(data=...) in "
                        "Python; the command line has none");
    };
  }
  if (!in.has("path")) throw ConfigError(in.where() + ": source \"file\" needs 'path'");
  ingest::ReplayOptions o;
  o.path = in.get_string("path");
  if (in.has("format")) o.format = in.get_string("format");
  o.raw.dtype = *parse_dtype(in.get_string("dtype"));
  if (in.has("frame_shape")) {
    const auto fs = in.get_ints("frame_shape");
    if (fs.size() != 2 || fs[0] <= 0 || fs[1] <= 0) {
      throw ConfigError(in.where("frame_shape") + ": needs [rows, cols] > 0");
    }
    o.raw.frame_shape = {std::uint32_t(fs[0]), std::uint32_t(fs[1])};
  }
  o.raw.header_bytes = static_cast<std::uint64_t>(in.get_int("header_bytes"));
  o.scan_shape = scan_shape;
  o.rate = in.get_double("rate");
  o.read_ahead = static_cast<std::size_t>(std::max<std::int64_t>(in.get_int("read_ahead"), 1));
  o.share_index = role.rank;
  o.shares = role.ranks;
  o.read_on_workers = true;  // the engine runs FrameBatch::fill on its workers
  return [o](BatchPool& pool) { return std::make_unique<ingest::ReplaySource>(pool, o); };
}

}  // namespace stemflow
