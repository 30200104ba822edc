// SPDX-License-Identifier: GPL-3.0-or-later
// The options `synth --protocol ...` and `replay` share, registered on a CLI11 subcommand, and the
// command that sends a series with them.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "pipeline/core/series.hpp"

namespace stemflow::sim {

struct SendCli {
  std::string protocol = "native";
  std::string codec = "bslz4";
  std::string channels = "threshold_1";
  std::string inject;
  std::string inject_log;
  std::uint64_t loops = 1;
  std::uint64_t fault_seed = 1;
  bool no_hash = false;
  std::uint32_t merlin_raw = 0;  // 0: counts
  std::string merlin_layout = "auto";

  //! Adds --protocol, --codec, --channels, --no-hash, --merlin-raw, --merlin-layout, --loop,
  //! --inject, --inject-log, --fault-seed.
  void add_to(CLI::App& app);
  //! True when the generic send loop is needed (anything but a plain native stream).
  bool needed() const {
    return protocol != "native" || !inject.empty() || loops > 1 || merlin_raw != 0 ||
           merlin_layout != "auto";
  }
};

//! Sends `header`'s scan (frames from `render`) to `endpoints` (comma-separated in one string),
//! returns the exit code. Throws ConfigError for bad options.
int send_command(const SendCli& cli,
                 const SeriesHeader& header,
                 const std::function<void(std::uint64_t, std::span<std::byte>)>& render,
                 const std::string& endpoints,
                 bool bind,
                 int hwm,
                 int linger_ms,
                 double rate,
                 std::uint64_t unique);

}  // namespace stemflow::sim
