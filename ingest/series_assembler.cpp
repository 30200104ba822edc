// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/series_assembler.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>
#include <string>

namespace stemflow::ingest {

void SeriesAssembler::start(const SeriesHeader& header) {
  header_ = header;
  counts_ = SeriesCounts{};
  seen_.assign(header.scan_size(), 0);
  log_.reset();
  filling_ = nullptr;
  n_ready_ = 0;
  active_ = true;
  rejected_ = false;
}

Expected<std::byte*> SeriesAssembler::reserve(std::uint64_t index) {
  if (rejected_) {
    drop(DropReason::kSeriesRejected, "the series does not fit the configuration");
    return make_error("series_rejected", "series rejected");
  }
  if (index >= header_.scan_size()) {
    drop(DropReason::kIndexOutOfRange, "frame index " + std::to_string(index) + " >= scan size " +
                                           std::to_string(header_.scan_size()));
    return make_error("index_out_of_range", "frame index outside the scan");
  }
  if (seen_[index]) {
    drop(DropReason::kDuplicate, "frame index " + std::to_string(index) + " received twice");
    return make_error("duplicate", "frame index received twice");
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
                 header_.series_id, series_timeout.count(), counts_.frames_accepted,
                 header_.scan_size());
    return true;
  }
  if (pending_age() > batch_timeout) flush();
  return false;
}

void SeriesAssembler::finish(SeriesEnd how) {
  flush();
  if (filling_ != nullptr) {  // empty slot taken but never used
    pool_.release(filling_);
    filling_ = nullptr;
  }
  counts_.end = how;
  active_ = false;
}

}  // namespace stemflow::ingest
