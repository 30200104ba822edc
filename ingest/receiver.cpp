// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/receiver.hpp"

#include <spdlog/spdlog.h>

#include <string>

namespace stemflow::ingest {

SourceStatus Receiver::next() {
  for (;;) {
    if (assembler_.has_ready()) return SourceStatus::kBatchReady;
    if (!pending_.empty()) {
      const auto s = pending_.front();
      pending_.pop_front();
      if (s == SourceStatus::kSeriesStarted) {
        assembler_.start(*next_header_);
        on_series_started();
      }
      return s;
    }
    if (finished_) return SourceStatus::kFinished;
    if (resume_held()) continue;

    if (stop_requested()) {
      // Drain what has already arrived, so that nothing received is lost, for at most the drain
      // limit (a sender that keeps sending must not hold the stop up); then end as interrupted.
      const auto now = std::chrono::steady_clock::now();
      if (!drain_started_) drain_started_ = now;
      if (now - *drain_started_ < timing_.drain_limit && receive_queued()) continue;
      if (place_pending()) continue;
      if (assembler_.active()) end_series(SeriesEnd::kInterrupted);
      finished_ = true;
      continue;
    }

    if (receive(timing_.poll_interval)) continue;
    if (place_pending()) continue;
    if (assembler_.silent_too_long(last_message_, timing_.series_timeout, timing_.batch_timeout)) {
      end_series(SeriesEnd::kTimeout);
    }
    if (assembler_.has_ready() || !pending_.empty()) continue;
    return SourceStatus::kIdle;
  }
}

void Receiver::count_drop(DropReason reason, std::string_view detail) {
  if (assembler_.active()) {
    assembler_.drop(reason, detail);
  } else {
    outside_log_.record(outside_, reason, detail);
  }
}

void Receiver::count_undecodable(DropReason reason, std::string_view detail) {
  if (assembler_.active()) ++assembler_.counts().frames_received;
  count_drop(reason, detail);
}

void Receiver::count_stray_end(std::uint64_t series_id) {
  const auto reason = assembler_.active() ? DropReason::kWrongSeries : DropReason::kNoSeries;
  outside_log_.record(
      outside_,
      reason,
      "end of series " + std::to_string(series_id) + ", which is not the current series");
}

bool Receiver::usable_start(const SeriesHeader& header) {
  if (header.scan_size() != 0 && header.frame_pixels() != 0) return true;
  count_drop(DropReason::kMalformed, "series start with an empty scan or frame shape");
  return false;
}

void Receiver::start_series(const SeriesHeader& header) {
  next_header_ = header;
  pending_.push_back(SourceStatus::kSeriesStarted);
}

void Receiver::end_series(SeriesEnd how) {
  assembler_.finish(how);
  pending_.push_back(SourceStatus::kSeriesEnded);
}

void Receiver::restart_series(std::string_view by) {
  spdlog::warn("series {} restarted by {} after {} of {} frames",
               assembler_.header().series_id,
               by,
               assembler_.counts().frames_accepted,
               assembler_.header().scan_size());
  end_series(SeriesEnd::kRestarted);
}

}  // namespace stemflow::ingest
