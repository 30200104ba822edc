// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/series_assembler.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>
#include <string>

namespace stemflow::ingest {

void SeriesAssembler::start(const SeriesHeader& header) {
  header_ = header;
  counts_ = SeriesCounts{};
  log_.reset();
  filling_ = nullptr;
  n_ready_ = 0;
  active_ = true;
  rejected_ = false;
  // The header is the sender's word: nothing per scan position is allocated before the pool says
  // the series fits (a 200000x200000 scan would otherwise end the process in bad_alloc). A refused
  // series is still a series: its frames are received and counted as series_rejected.
  if (auto fits = pool_.admit(header); !fits) {
    spdlog::error("series {} refused: {}", header.series_id, fits.error().message);
    seen_.clear();
    seen_.shrink_to_fit();
    rejected_ = true;
    return;
  }
  seen_.assign(header.scan_size(), 0);
}

Expected<std::byte*> SeriesAssembler::reserve(std::uint64_t index) {
  if (rejected_) {
    drop(DropReason::kSeriesRejected, "the series does not fit the configuration");
    return make_drop(DropReason::kSeriesRejected, "series rejected");
  }
  if (index >= header_.scan_size()) {
    drop(DropReason::kIndexOutOfRange,
         "frame index " + std::to_string(index) + " >= scan size " +
             std::to_string(header_.scan_size()));
    return make_drop(DropReason::kIndexOutOfRange, "frame index outside the scan");
  }
  if (seen_[index]) {
    drop(DropReason::kDuplicate, "frame index " + std::to_string(index) + " received twice");
    return make_drop(DropReason::kDuplicate, "frame index received twice");
  }
  while (filling_ == nullptr) {
    // Waiting here is the back-pressure: the graph always returns slots, so this ends.
    filling_ = pool_.acquire(std::chrono::milliseconds(100));
  }
  if (filling_->count == 0) filling_->first_arrival = std::chrono::steady_clock::now();
  return filling_->frame_data(filling_->count);
}

void SeriesAssembler::commit(std::uint64_t index, std::size_t bytes) {
  seen_[index] = 1;
  filling_->index[filling_->count] = index;
  ++filling_->count;
  ++counts_.frames_accepted;
  counts_.bytes_received += bytes;
  if (filling_->full()) {
    push_ready();
  }
}

void SeriesAssembler::push_ready() {
  if (n_ready_ == ready_.size()) {
    throw std::logic_error("SeriesAssembler: a source must take ready batches before filling more");
  }
  ready_[n_ready_++] = filling_;
  filling_ = nullptr;
}

FrameBatch* SeriesAssembler::take_ready() {
  if (n_ready_ == 0) return nullptr;
  FrameBatch* b = ready_[0];
  ready_[0] = ready_[1];
  --n_ready_;
  return b;
}

bool SeriesAssembler::flush() {
  if (filling_ == nullptr || filling_->count == 0) return false;
  push_ready();
  return true;
}

std::chrono::steady_clock::duration SeriesAssembler::pending_age() const {
  if (filling_ == nullptr || filling_->count == 0) return {};
  return std::chrono::steady_clock::now() - filling_->first_arrival;
}

bool SeriesAssembler::silent_too_long(std::chrono::steady_clock::time_point last_message,
                                      std::chrono::milliseconds series_timeout,
                                      std::chrono::milliseconds batch_timeout) {
  if (!active_) return false;
  if (std::chrono::steady_clock::now() - last_message > series_timeout) {
    spdlog::warn("series {}: no message for {} ms, ending it as incomplete ({} of {} frames)",
                 header_.series_id,
                 series_timeout.count(),
                 counts_.frames_accepted,
                 header_.scan_size());
    return true;
  }
  if (pending_age() > batch_timeout) flush();
  return false;
}

bool looks_interleaved(const std::vector<std::uint8_t>& seen) {
  // A ZeroMQ sender deals messages round-robin among the PULL sockets connected to it: a second
  // engine on the same sender leaves this one every other frame (every k-th with k receivers).
  // Network loss or a slow consumer loses runs of frames or a scattered few; only dealing leaves
  // most received frames with no received neighbour while most of the scan is missing.
  std::uint64_t got = 0, isolated = 0;
  const std::size_t n = seen.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (!seen[i]) continue;
    ++got;
    const bool left = i > 0 && seen[i - 1];
    const bool right = i + 1 < n && seen[i + 1];
    if (!left && !right) ++isolated;
  }
  return n >= 8 && got >= 4 && got * 4 <= n * 3 && isolated * 2 > got;
}

void SeriesAssembler::finish(SeriesEnd how) {
  if (!rejected_ && !shared_sender_ && looks_interleaved(seen_)) {
    spdlog::error(
        "series {}: {} of {} frames arrived, spread evenly over the scan with the ones between "
        "missing: another receiver is probably connected to the same sender and took them (a "
        "ZeroMQ sender deals messages round-robin among its receivers). Connect one engine per "
        "sender, or run the engines as one MPI job",
        header_.series_id,
        counts_.frames_accepted,
        header_.scan_size());
    counts_.split_suspected = true;
  }
  flush();
  if (filling_ != nullptr) {  // empty slot taken but never used
    pool_.release(filling_);
    filling_ = nullptr;
  }
  counts_.end = how;
  active_ = false;
}

}  // namespace stemflow::ingest
