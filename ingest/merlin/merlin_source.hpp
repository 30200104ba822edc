// SPDX-License-Identifier: GPL-3.0-or-later
// Receiver for the Quantum Detectors Merlin data port (input.protocol = "merlin"): a TCP client of
// the detector's data server (default port 6342). An acquisition header (HDR) starts a series, MQ1
// frames fill it (scan position = sequence number - 1), and the series is complete when every
// sequence number has arrived; Merlin sends no end message, so an incomplete series ends on
// input.series_timeout or on the next acquisition header.
//
// A detector that disconnects mid-scan is reconnected to every reconnect interval; when the new
// connection's acquisition header announces the same frame count, the series goes on with the
// frames that follow (those lost in between stay missing). One TCP connection per detector: Merlin
// has no way to spread one acquisition over several sockets.
#pragma once

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "ingest/merlin/mpx.hpp"
#include "ingest/receiver.hpp"

namespace stemflow::ingest {

struct MerlinOptions {
  std::string endpoint = "tcp://127.0.0.1:6342";
  std::chrono::milliseconds series_timeout{10000};
  std::chrono::milliseconds batch_timeout{100};
  std::chrono::milliseconds poll_interval{50};
  std::chrono::milliseconds reconnect_interval{200};
  std::chrono::milliseconds drain_limit{
      2000};                                  // on stop: read what is queued for at most this long
  std::array<std::uint32_t, 2> scan_shape{};  // used when the header has no ScanX/ScanY
};

class MerlinSource final : public Receiver {
 public:
  //! Checks the endpoint (throws ConfigError); connects lazily and keeps reconnecting.
  MerlinSource(BatchPool& pool, MerlinOptions options);
  ~MerlinSource() override;

  std::string describe() const override { return options_.endpoint; }
  //! Connections made so far (a reconnect after a disconnect adds one).
  std::uint64_t connections() const { return connections_; }

 private:
  bool receive(std::chrono::milliseconds wait) override;
  bool receive_queued() override;
  bool resume_held() override;
  void on_series_started() override;
  bool try_connect();
  void disconnect(std::string_view why);
  //! Reads what the socket has; true when a whole message is in buf_.
  bool read_message(std::chrono::milliseconds wait);
  void handle_message();
  void handle_acquisition_header();
  void handle_frame();

  MerlinOptions options_;
  std::string host_;
  int port_ = 0;
  int fd_ = -1;
  std::chrono::steady_clock::time_point next_connect_{};
  std::uint64_t connections_ = 0;
  bool reconnected_ = false;  // a connection was lost during the current series

  // Message being read: the 15-byte prefix, then the payload.
  std::array<std::uint8_t, merlin::kMpxPrefixBytes> prefix_{};
  std::size_t prefix_have_ = 0;
  std::vector<std::uint8_t> buf_;
  std::size_t payload_need_ = 0;
  std::size_t payload_have_ = 0;
  bool message_ready_ = false;
  bool held_frame_ = false;  // buf_ holds the first frame, waiting for its series to start

  std::optional<merlin::AcquisitionHeader> acquisition_;  // announced, series not started yet
  std::uint64_t series_counter_ = 0;
  std::vector<std::uint8_t> seq_seen_;
  std::uint64_t seq_distinct_ = 0;
};

}  // namespace stemflow::ingest
