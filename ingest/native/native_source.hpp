// SPDX-License-Identifier: GPL-3.0-or-later
// Receiver for the native protocol: a ZeroMQ PULL socket connected (or bound) to the sender's
// endpoints. Part 2 of a frame message is received straight into the batch slot. A start during a
// series ends it as restarted, unless it announces the same series again (same id, scan and
// frames): a sender that reconnected re-sends its start, and the series goes on.
#pragma once

#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "ingest/native/wire.hpp"
#include "ingest/series_assembler.hpp"
#include "ingest/source.hpp"

namespace stemflow::ingest {

struct NativeOptions {
  std::vector<std::string> endpoints;
  bool bind = false;
  int receive_hwm = 256;
  std::chrono::milliseconds series_timeout{10000};
  std::chrono::milliseconds batch_timeout{100};
  std::chrono::milliseconds poll_interval{50};
  std::chrono::milliseconds drain_limit{2000};  // on stop: read what is queued for at most this long
};

class NativeZmqSource final : public Source {
 public:
  //! Opens the socket (throws ConfigError on a bad endpoint).
  NativeZmqSource(BatchPool& pool, NativeOptions options);

  SourceStatus next() override;
  const SeriesHeader& header() const override { return assembler_.header(); }
  FrameBatch* take_batch() override { return assembler_.take_ready(); }
  const SeriesCounts& counts() const override { return assembler_.counts(); }
  void reject_series() override { assembler_.reject(); }
  std::string describe() const override;
  //! Messages that belonged to no series (before any start, or after an end), by reason.
  const SeriesCounts& outside_counts() const override { return orphans_; }

 private:
  //! Receives and handles one message; false if none was available (non-blocking).
  bool receive_one();
  void handle_frame(const wire::FrameHeader& f, bool more);
  void discard_rest();
  void count_drop(DropReason reason, std::string_view detail);
  void check_timeouts();

  NativeOptions options_;
  zmq::context_t context_;
  zmq::socket_t socket_;
  SeriesAssembler assembler_;
  std::deque<SourceStatus> pending_;
  std::optional<SeriesHeader> next_header_;
  std::vector<std::uint8_t> part1_;
  SeriesCounts orphans_;
  DropLog orphan_log_;
  std::chrono::steady_clock::time_point last_message_{};
  std::optional<std::chrono::steady_clock::time_point> drain_started_;
  bool finished_ = false;
};

}  // namespace stemflow::ingest
