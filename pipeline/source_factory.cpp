// SPDX-License-Identifier: GPL-3.0-or-later
#include "pipeline/source_factory.hpp"

#include <filesystem>

#include "ingest/file/file_source.hpp"
#include "ingest/native/native_source.hpp"

namespace stemflow {

std::unique_ptr<ingest::Source> make_source(const config::Config& config, BatchPool& pool) {
  const auto in = config.section("input");
  const auto scan = config.section("scan");
  const auto pipe = config.section("pipeline");
  const auto ms = [](double s) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000.0));
  };
  if (in.get_string("source") == "zmq") {
    ingest::NativeOptions o;
    if (in.has("endpoint")) o.endpoints = in.get_strings("endpoint");
    if (in.has("endpoints")) o.endpoints = in.get_strings("endpoints");
    if (o.endpoints.empty()) throw ConfigError(in.where() + ": source \"zmq\" needs 'endpoint'");
    o.bind = in.get_bool("bind");
    o.receive_hwm = static_cast<int>(in.get_int("receive_hwm"));
    o.series_timeout = ms(in.get_double("series_timeout"));
    o.batch_timeout = ms(pipe.get_double("batch_timeout"));
    return std::make_unique<ingest::NativeZmqSource>(pool, std::move(o));
  }
  ingest::FileOptions o;
  if (!in.has("path")) throw ConfigError(in.where() + ": source \"file\" needs 'path'");
  std::filesystem::path p = in.get_string("path");
  o.path = p.string();
  if (in.has("format")) o.format = in.get_string("format");
  o.dtype = *parse_dtype(in.get_string("dtype"));
  if (in.has("frame_shape")) {
    const auto fs = in.get_ints("frame_shape");
    if (fs.size() != 2 || fs[0] <= 0 || fs[1] <= 0) {
      throw ConfigError(in.where("frame_shape") + ": needs [rows, cols] > 0");
    }
    o.frame_shape = {std::uint32_t(fs[0]), std::uint32_t(fs[1])};
  }
  o.header_bytes = static_cast<std::uint64_t>(in.get_int("header_bytes"));
  if (scan.has("shape")) {
    const auto s = scan.get_ints("shape");
    o.scan_shape = {std::uint32_t(s[0]), std::uint32_t(s[1])};
  }
  o.rate = in.get_double("rate");
  return std::make_unique<ingest::FileSource>(pool, std::move(o));
}


}  // namespace stemflow
