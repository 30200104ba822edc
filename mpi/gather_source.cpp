// SPDX-License-Identifier: GPL-3.0-or-later
#include "mpi/gather_source.hpp"

#include <mpi.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "mpi/result_wire.hpp"
#include "mpi/tags.hpp"

namespace stemflow::mpi {

GatherSource::GatherSource(BatchPool& pool, std::unique_ptr<Source> own, std::uint32_t ranks)
    : pool_(pool), own_(std::move(own)), ranks_(ranks), ended_(ranks, false), peer_counts_(ranks) {
  peers_.images.resize(ranks > 0 ? ranks - 1 : 0);
  peers_.frames_per_rank.assign(ranks, 0);
}

std::string GatherSource::describe() const {
  return own_->describe() + ", with the results of " + std::to_string(ranks_ - 1) +
         " other MPI ranks";
}

FrameBatch* GatherSource::take_batch() {
  if (pending_) return std::exchange(pending_, nullptr);
  return own_->take_batch();
}

void GatherSource::reject_series() {
  rejected_ = true;
  own_->reject_series();
}

const SeriesCounts& GatherSource::counts() const {
  total_ = own_->counts();
  for (std::uint32_t r = 1; r < ranks_; ++r) {
    const auto& c = peer_counts_[r];
    total_.frames_received += c.frames_received;
    total_.frames_accepted += c.frames_accepted;
    total_.bytes_received += c.bytes_received;
    // Every rank learns what the sender announced (the rank that got the end tells the others).
    total_.frames_announced = std::max(total_.frames_announced, c.frames_announced);
    total_.split_suspected = total_.split_suspected || c.split_suspected;
    for (std::size_t d = 0; d < total_.dropped.size(); ++d) total_.dropped[d] += c.dropped[d];
    // The series ended as its most abnormal share did: one rank stopped or cut short, the whole.
    const bool normal = total_.end == SeriesEnd::kComplete || total_.end == SeriesEnd::kEndOfFile;
    if (ended_[r] && normal && c.end != SeriesEnd::kComplete && c.end != SeriesEnd::kEndOfFile) {
      total_.end = c.end;
    }
  }
  return total_;
}

bool GatherSource::poll() {
  // One rank at a time, skipping those whose end of this series is in: what they send next belongs
  // to their next series and waits in MPI until this rank has started it too.
  for (std::uint32_t k = 0; k + 1 < ranks_; ++k) {
    const std::uint32_t r = 1 + (next_rank_ + k) % (ranks_ - 1);
    if (ended_[r]) continue;
    int waiting = 0;
    MPI_Status st;
    MPI_Iprobe(int(r), MPI_ANY_TAG, results_comm(), &waiting, &st);
    if (!waiting) continue;
    next_rank_ = r % (ranks_ - 1);  // start after this rank next time
    if (receive_from(r, st)) return true;
  }
  return false;
}

bool GatherSource::receive_from(std::uint32_t from, const MPI_Status& st) {
  int bytes = 0;
  MPI_Get_count(&st, MPI_BYTE, &bytes);
  if (st.MPI_TAG == kTagResults) {
    // Results take a pool slot: none free, they wait in MPI (and the sender waits) until one is.
    FrameBatch* b = rejected_ ? nullptr : pool_.acquire(std::chrono::milliseconds(0));
    if (!b && !rejected_) return false;
    buffer_.resize(static_cast<std::size_t>(bytes));
    MPI_Recv(
        buffer_.data(), bytes, MPI_BYTE, int(from), kTagResults, results_comm(), MPI_STATUS_IGNORE);
    if (rejected_) return true;  // the series was refused here: so was it there (same config)
    if (auto ok = decode_results(buffer_, *b); !ok) {
      // Both sides are the same build and configuration: this is a bug, not bad input.
      spdlog::critical("rank {}: {}", from, ok.error().message);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    b->computed = true;
    b->series = &own_->header();
    pending_ = b;
    return true;
  }
  buffer_.resize(static_cast<std::size_t>(bytes));
  MPI_Recv(
      buffer_.data(), bytes, MPI_BYTE, int(from), st.MPI_TAG, results_comm(), MPI_STATUS_IGNORE);
  if (st.MPI_TAG != kTagEnd) return true;
  auto end = decode_end(buffer_);
  if (!end) {
    spdlog::critical("rank {}: {}", from, end.error().message);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  ended_[from] = true;
  peer_counts_[from] = end->counts;
  peers_.frames_per_rank[from] = end->counts.frames_received;
  peers_.images[from - 1] = std::move(end->images);
  spdlog::debug("rank {} ended its share: {} frames received", from, end->counts.frames_received);
  return true;
}

SourceStatus GatherSource::end_series() {
  peers_.frames_per_rank[0] = own_->counts().frames_received;
  state_ = State::kEnded;
  return SourceStatus::kSeriesEnded;
}

SourceStatus GatherSource::next() {
  if (stop_requested()) own_->request_stop();
  for (;;) {
    switch (state_) {
      case State::kEnded:
        // The engine has read peers() and the counts: on to the next series.
        std::fill(ended_.begin(), ended_.end(), false);
        std::fill(peer_counts_.begin(), peer_counts_.end(), SeriesCounts{});
        peers_.images.assign(ranks_ - 1, {});
        peers_.frames_per_rank.assign(ranks_, 0);
        rejected_ = false;
        stop_seen_.reset();
        state_ = State::kBefore;
        continue;
      case State::kBefore: {
        // The other ranks' results are taken only once the engine has configured the pool for
        // the series (after kSeriesStarted); until then they wait in MPI.
        const auto s = own_->next();
        if (s == SourceStatus::kSeriesStarted) state_ = State::kRunning;
        return s;
      }
      case State::kRunning: {
        if (poll() && pending_) return SourceStatus::kBatchReady;
        const auto s = own_->next();
        if (s == SourceStatus::kFinished) {
          // Stopped or out of input with no series of its own running (a series was never
          // started here): nothing to gather.
          return s;
        }
        if (s != SourceStatus::kSeriesEnded) return s;
        state_ = State::kOwnEnded;
        continue;
      }
      case State::kOwnEnded: {
        bool all = true;
        for (std::uint32_t r = 1; r < ranks_; ++r) all = all && ended_[r];
        if (all) return end_series();
        if (poll()) {
          if (pending_) return SourceStatus::kBatchReady;
          continue;
        }
        if (stop_requested()) {
          // Stopped (a signal, or the launcher ending the job because a rank died): the other
          // ranks got the same signal and send their ends within moments; one that does not is
          // gone.
          const auto now = std::chrono::steady_clock::now();
          if (!stop_seen_) stop_seen_ = now;
          if (now - *stop_seen_ > kStopGrace) {
            for (std::uint32_t r = 1; r < ranks_; ++r) {
              if (!ended_[r]) {
                spdlog::error("rank {} did not end its share: its frames are missing", r);
              }
            }
            return end_series();
          }
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        return SourceStatus::kIdle;
      }
    }
  }
}

}  // namespace stemflow::mpi
