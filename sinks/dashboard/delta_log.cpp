// SPDX-License-Identifier: GPL-3.0-or-later
#include "sinks/dashboard/delta_log.hpp"

#include <charconv>

namespace stemflow::sinks {

std::optional<EventId> parse_event_id(std::string_view text) {
  const auto dash = text.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == text.size()) return std::nullopt;
  EventId id;
  id.epoch = std::string(text.substr(0, dash));
  const auto digits = text.substr(dash + 1);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id.seq);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return id;
}

std::string format_sse(std::string_view epoch,
                       std::uint64_t seq,
                       std::string_view type,
                       std::string_view json) {
  std::string s;
  s.reserve(json.size() + epoch.size() + type.size() + 48);
  s.append("id: ").append(epoch).append("-").append(std::to_string(seq));
  s.append("\nevent: ").append(type).append("\ndata: ").append(json).append("\n\n");
  return s;
}

DeltaLog::DeltaLog(std::string epoch, std::size_t max_events, std::size_t max_bytes)
    : epoch_(std::move(epoch)),
      max_events_(max_events < 1 ? 1 : max_events),
      max_bytes_(max_bytes) {}

std::uint64_t DeltaLog::append(std::string_view json) {
  const std::uint64_t seq = ++last_seq_;
  auto e = std::make_shared<const std::string>(format_sse(epoch_, seq, "delta", json));
  bytes_ += e->size();
  ring_.push_back(std::move(e));
  // Oldest first; the newest always stays, so a connected client never has to take a snapshot
  // just because one delta was large.
  while (ring_.size() > 1 && (ring_.size() > max_events_ || bytes_ > max_bytes_)) {
    bytes_ -= ring_.front()->size();
    ring_.pop_front();
  }
  return seq;
}

DeltaLog::Resume DeltaLog::since(std::uint64_t seq) const {
  Resume r;
  if (seq == last_seq_) {
    r.kind = ResumeKind::kUpToDate;
    return r;
  }
  // A client ahead of us, or behind the oldest delta held, cannot be brought up to date by deltas.
  if (seq > last_seq_ || seq + 1 < first_seq()) return r;
  r.kind = ResumeKind::kDeltas;
  r.events.assign(ring_.begin() + static_cast<std::ptrdiff_t>(seq + 1 - first_seq()), ring_.end());
  return r;
}

DeltaLog::Resume DeltaLog::resume(const std::optional<EventId>& last) const {
  if (!last || last->epoch != epoch_) return Resume{};
  return since(last->seq);
}

}  // namespace stemflow::sinks
