// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/receiver.hpp"

#include <spdlog/spdlog.h>

#include <string>
#include <thread>

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
    if (poll_peers()) continue;

    if (stop_requested()) {
      // Drain what has already arrived, so that nothing received is lost, for at most the drain
      // limit (a sender that keeps sending must not hold the stop up); then end as interrupted.
      const auto now = std::chrono::steady_clock::now();
      if (!drain_started_) drain_started_ = now;
      if (now - *drain_started_ < timing_.drain_limit && receive_queued()) continue;
      if (place_pending()) continue;
      if (assembler_.active()) end_series_here(SeriesEnd::kInterrupted);
      finished_ = true;
      continue;
    }

    if (peer_end_) {
      // Ending on another receiver's end: take what is still arriving, then end when quiet.
      if (receive_queued()) continue;
      if (place_pending()) continue;
      const auto now = std::chrono::steady_clock::now();
      if (now - *peer_end_ >= kPeerEndQuiet && now - last_message_ >= kPeerEndQuiet) {
        peer_end_.reset();
        end_series_here(SeriesEnd::kComplete);
        continue;
      }
      if (receive(std::chrono::milliseconds(20))) continue;
      return SourceStatus::kIdle;
    }
    if (receive(timing_.poll_interval)) continue;
    if (place_pending()) continue;
    if (assembler_.silent_too_long(last_message_, timing_.series_timeout, timing_.batch_timeout)) {
      end_series_here(SeriesEnd::kTimeout);
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
  if (peers_) peers_->announce({SeriesPeers::Event::Kind::kStart, header, header.series_id, 0});
}

void Receiver::end_series(SeriesEnd how) {
  if (peers_ && how == SeriesEnd::kComplete) {
    peers_->announce({SeriesPeers::Event::Kind::kEnd,
                      {},
                      assembler_.header().series_id,
                      assembler_.counts().frames_announced});
  }
  end_series_here(how);
}

void Receiver::end_series_here(SeriesEnd how) {
  peer_end_.reset();
  assembler_.finish(how);
  pending_.push_back(SourceStatus::kSeriesEnded);
}

bool Receiver::poll_peers() {
  if (!peers_) return false;
  if (!peer_backlog_.empty()) {
    const auto e = peer_backlog_.front();
    peer_backlog_.pop_front();
    return handle_peer_event(e);
  }
  auto e = peers_->poll();
  return e && handle_peer_event(*e);
}

bool Receiver::handle_peer_event(const SeriesPeers::Event& e) {
  if (e.kind == SeriesPeers::Event::Kind::kStart) {
    const auto id = e.header.series_id;
    const bool known = (assembler_.active() && assembler_.header().series_id == id) ||
                       (next_header_ && next_header_->series_id == id && !pending_.empty());
    if (known) return true;
    close_for_new_series("series " + std::to_string(id) + " (another rank)");
    next_header_ = e.header;
    pending_.push_back(SourceStatus::kSeriesStarted);
    return true;
  }
  if (assembler_.active() && assembler_.header().series_id == e.series_id && !peer_end_) {
    assembler_.counts().frames_announced = e.frames_announced;
    peer_end_ = std::chrono::steady_clock::now();
  }
  return true;
}

void Receiver::close_for_new_series(std::string_view by) {
  if (!assembler_.active()) return;
  if (peers_ && !peer_end_) {
    // The end went to another receiver and is on its way: wait for it, keeping other events.
    const auto until = std::chrono::steady_clock::now() + kAwaitPeerEnd;
    while (!peer_end_ && std::chrono::steady_clock::now() < until) {
      auto e = peers_->poll();
      if (!e) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      if (e->kind == SeriesPeers::Event::Kind::kEnd &&
          e->series_id == assembler_.header().series_id) {
        handle_peer_event(*e);
      } else {
        peer_backlog_.push_back(*e);
      }
    }
  }
  if (peer_end_) {
    end_series_here(SeriesEnd::kComplete);
  } else {
    restart_series(by);
  }
}

void Receiver::restart_series(std::string_view by) {
  spdlog::warn("series {} restarted by {} after {} of {} frames",
               assembler_.header().series_id,
               by,
               assembler_.counts().frames_accepted,
               assembler_.header().scan_size());
  end_series_here(SeriesEnd::kRestarted);
}

}  // namespace stemflow::ingest
