// SPDX-License-Identifier: GPL-3.0-or-later
// The sending side of the native protocol: a ZeroMQ PUSH socket that binds (as a detector does) or
// connects, and sends a series as start, frames, end.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "ingest/native/wire.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow::sim {

struct SenderOptions {
  std::string endpoint;
  bool bind = true;
  int send_hwm = 256;
  std::chrono::milliseconds linger{60000};  // how long close waits to deliver what is queued
};

class NativeSender {
 public:
  explicit NativeSender(const SenderOptions& options);
  ~NativeSender();

  //! Sends the series' start. `frames_already_sent`: the series' frames sent before on another
  //! connection (a reconnect), which the end message counts too.
  void start(const SeriesHeader& header, std::uint64_t frames_already_sent = 0);
  //! Sends one frame. With `persistent`, the pixels must stay valid and unchanged until the sender
  //! is destroyed: they are handed to ZeroMQ without a copy.
  void frame(std::uint64_t index, std::span<const std::byte> pixels, bool persistent = false);
  void end();

  //! Escape hatch for fault-injection tests: sends raw message parts as given.
  void send_parts(const std::vector<std::vector<std::uint8_t>>& parts);
  std::uint64_t frames_sent() const { return frames_sent_; }
  //! The endpoint actually bound or connected (resolves "tcp://127.0.0.1:*" to the port chosen).
  std::string endpoint() const { return socket_.get(zmq::sockopt::last_endpoint); }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
  SeriesHeader header_;
  std::vector<std::uint8_t> buffer_;
  std::uint64_t frames_sent_ = 0;
};

}  // namespace stemflow::sim
