// SPDX-License-Identifier: GPL-3.0-or-later
// The dashboard's delta log: a bounded ring of the most recent update events, each with a sequence
// number, from which a browser that reconnects is resumed.
//
// Event ids are "<epoch>-<seq>". The epoch names this engine process, so that the Last-Event-ID of
// a browser that was connected to an earlier run is never taken for one of ours. Sequence numbers
// start at 1 and grow by one per delta; delta n applies to the state after delta n - 1, and a
// snapshot with id n is that state. A client that last saw n gets deltas n + 1 ... last if the ring
// still holds them all, nothing if it is up to date, and otherwise (fell too far behind, other
// epoch, no id, an id from the future) a snapshot.
//
// Not thread-safe: the dashboard sink guards it with its state mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stemflow::sinks {

struct EventId {
  std::string epoch;
  std::uint64_t seq = 0;
};

//! "<epoch>-<seq>" -> EventId; nullopt for anything else (empty, no dash, not a number).
std::optional<EventId> parse_event_id(std::string_view text);

//! One server-sent event, ready to write: "id: <epoch>-<seq>\nevent: <type>\ndata: <json>\n\n".
//! `json` must be one line (JSON without pretty-printing is).
std::string format_sse(std::string_view epoch,
                       std::uint64_t seq,
                       std::string_view type,
                       std::string_view json);

class DeltaLog {
 public:
  using Event = std::shared_ptr<const std::string>;

  //! Keeps at most `max_events` deltas and about `max_bytes` of them (always the newest one).
  DeltaLog(std::string epoch, std::size_t max_events, std::size_t max_bytes);

  //! Appends the next delta, whose JSON body the caller built for sequence number next_seq().
  //! Returns that sequence number.
  std::uint64_t append(std::string_view json);

  std::uint64_t next_seq() const { return last_seq_ + 1; }
  std::uint64_t last_seq() const { return last_seq_; }
  const std::string& epoch() const { return epoch_; }
  std::size_t size() const { return ring_.size(); }
  std::size_t bytes() const { return bytes_; }
  //! Oldest sequence number still held (last_seq() + 1 when empty).
  std::uint64_t first_seq() const { return last_seq_ + 1 - ring_.size(); }

  enum class ResumeKind {
    kUpToDate,  // nothing to send yet
    kDeltas,    // send `events` in order
    kSnapshot,  // the deltas are gone (or never were ours): send a snapshot, then continue
  };
  struct Resume {
    ResumeKind kind = ResumeKind::kSnapshot;
    std::vector<Event> events;
  };
  //! What a client whose last event was `last` (nullopt: a new client) needs next.
  Resume resume(const std::optional<EventId>& last) const;
  //! The deltas after `seq` of this epoch, for a connected client that is caught up to `seq`.
  Resume since(std::uint64_t seq) const;

 private:
  std::string epoch_;
  std::size_t max_events_;
  std::size_t max_bytes_;
  std::deque<Event> ring_;  // ring_[i] has sequence number first_seq() + i
  std::size_t bytes_ = 0;
  std::uint64_t last_seq_ = 0;
};

}  // namespace stemflow::sinks
