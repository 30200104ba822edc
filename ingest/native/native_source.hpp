// SPDX-License-Identifier: GPL-3.0-or-later
// Receiver for the native protocol: a ZeroMQ PULL socket connected (or bound) to the sender's
// endpoints. Part 2 of a frame message is received straight into the batch slot. A start during a
// series ends it as restarted, unless it announces the same series again (same id, scan and
// frames): a sender that reconnected re-sends its start, and the series goes on.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "ingest/native/wire.hpp"
#include "ingest/receiver.hpp"

namespace stemflow::ingest {

struct NativeOptions {
  std::vector<std::string> endpoints;
  bool bind = false;
  int receive_hwm = 256;
  std::chrono::milliseconds series_timeout{10000};
  std::chrono::milliseconds batch_timeout{100};
  std::chrono::milliseconds poll_interval{50};
  std::chrono::milliseconds drain_limit{
      2000};                           // on stop: read what is queued for at most this long
  std::shared_ptr<SeriesPeers> peers;  // the other ranks of an MPI job on the same sender
};

class NativeZmqSource final : public Receiver {
 public:
  //! Opens the socket (throws ConfigError on a bad endpoint).
  NativeZmqSource(BatchPool& pool, NativeOptions options);

  std::string describe() const override;

 private:
  bool receive(std::chrono::milliseconds wait) override;
  bool receive_queued() override { return receive_one(); }
  //! Receives and handles one message; false if none was available (non-blocking).
  bool receive_one();
  //! A frame that arrived before its series started (see Receiver::may_hold_early_frame).
  struct EarlyFrame {
    wire::FrameHeader header;
    bool more = false;   // it had a pixel part
    bool extra = false;  // and more parts after it
    std::vector<std::byte> pixels;
  };
  //! `held`: a frame held from before its series started; null: its pixels are the socket's next
  //! part.
  void handle_frame(const wire::FrameHeader& f, bool more, const EarlyFrame* held);
  void discard_rest();
  bool resume_held() override;

  std::deque<EarlyFrame> early_;
  std::chrono::steady_clock::time_point early_since_{};

  NativeOptions options_;
  zmq::context_t context_;
  zmq::socket_t socket_;
  std::vector<std::uint8_t> part1_;
};

}  // namespace stemflow::ingest
