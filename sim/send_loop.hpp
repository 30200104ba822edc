// SPDX-License-Identifier: GPL-3.0-or-later
// The sending loop behind `stemflow-sim synth --protocol` and `stemflow-sim replay`: frames from
// any renderer (the synthetic scan, a recorded file), encoded in parallel, sent in any protocol at
// a set rate, with deterministic fault injection for tests:
//   --inject drop=P,duplicate=P,reorder=P,stall=MS@FRAME,disconnect=FRAME,corrupt=P
// Each frame's fate is a pure function of (seed, fault, frame index), and the frames each fault
// touched are written to a JSON log (--inject-log), so a test can predict the coverage map and
// reconcile the counts: the frame messages sent ("sent") are the receiver's frames received, kept
// or dropped by reason; the scan's frames ("frames") are those kept plus those missing
// ("dropped", "corrupted", "lost_in_disconnect"):
//   drop       the frame is not sent                     -> missing (coverage 0), not received
//   corrupt    its pixel encoding is damaged (truncated) -> received, dropped as decode_error
//              (compressed DECTRIS) or wrong_size (native, Merlin, uncompressed DECTRIS); in
//              transit, after hashing: stream V1's md5 is that of the intact blob, so a receiver
//              that verifies hashes drops a compressed one as hash_mismatch
//   duplicate  the frame is sent twice                   -> covered; one dropped as duplicate
//   reorder    the frame is swapped with the next one    -> covered, values unchanged
//   stall      the sender pauses MS ms before FRAME      -> covered (if MS < the series timeout)
//   disconnect the connection is closed at FRAME and opened again, and the series is announced
//              again on it (a restarted stream: native and DECTRIS re-send the start message,
//              Merlin the acquisition header; "disconnects" in the log says what); FRAME is lost
//              -> FRAME missing; the scan goes on in the same series, which completes (Merlin,
//              which sends no end message, times out)
// A frame is dropped, corrupted or sent intact (then maybe duplicated), in that order of
// precedence.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pipeline/core/series.hpp"
#include "sim/protocol_sender.hpp"

namespace stemflow::sim {

struct FaultPlan {
  double drop = 0;
  double duplicate = 0;
  double reorder = 0;
  double corrupt = 0;
  std::optional<std::uint64_t> stall_frame;
  std::chrono::milliseconds stall{0};
  std::optional<std::uint64_t> disconnect_frame;
  std::uint64_t seed = 1;

  //! Parses the --inject list; throws ConfigError on a malformed item.
  static FaultPlan parse(const std::string& spec, std::uint64_t seed);
  bool any() const;
  //! Whether fault `kind` ('d' drop, 'u' duplicate, 'r' reorder, 'c' corrupt) hits frame `index`.
  bool hits(char kind, std::uint64_t index) const;
};

//! One disconnect: at which frame, how many frame messages of the series had been sent before it,
//! and what was sent again on the new connection to announce the series.
struct Disconnect {
  std::uint64_t frame = 0;
  std::uint64_t sent_before = 0;
  std::string resent;
};

//! What the faults did, per series (frame indices).
struct SendLog {
  std::uint64_t series_id = 0;
  std::uint64_t frames = 0;
  std::vector<std::uint64_t> dropped, corrupted, duplicated, lost_in_disconnect;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> reordered;
  std::vector<Disconnect> disconnects;
  std::uint64_t sent = 0;  // frame messages sent (duplicates and corrupt ones included)
  //! Pixel values clamped to the wire's range (Merlin raw) while encoding this series' frames;
  //! with --unique, the cached frames' count is the first series'.
  std::uint64_t clamped = 0;
  double seconds = 0;
};

struct SendParams {
  SeriesHeader header;
  //! Renders frame `index` into `out` (frame_bytes); must be thread-safe.
  std::function<void(std::uint64_t index, std::span<std::byte> out)> render;
  std::uint64_t unique = 0;  // > 0: render and encode this many frames once, then cycle them
  double rate = 0;           // frames/s, 0 = as fast as possible
  std::uint64_t loops = 1;   // series sent one after the other (ids series_id, series_id + 1, ...)
  FaultPlan faults;
};

std::vector<SendLog> send_series(ProtocolSender& sender, const SendParams& params);
//! The logs as JSON (a list, one object per series).
std::string to_json(const std::vector<SendLog>& logs);

}  // namespace stemflow::sim
