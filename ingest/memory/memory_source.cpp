// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/memory/memory_source.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

namespace stemflow::ingest {

MemorySource::MemorySource(BatchPool& pool, MemoryArray array)
    : pool_(pool), array_(std::move(array)) {
  header_.series_id = 1;
  header_.scan_rows = array_.shape[0];
  header_.scan_cols = array_.shape[1];
  header_.frame_rows = array_.shape[2];
  header_.frame_cols = array_.shape[3];
  header_.dtype = array_.dtype;
  header_.detector = "memory";
  header_.metadata["source"] = "memory";
  header_.metadata["array"] = array_.description;
  if (header_.scan_size() == 0 || header_.frame_pixels() == 0 || array_.data == nullptr) {
    throw ConfigError("the input array holds no frames");
  }
  const auto elem = static_cast<std::int64_t>(dtype_size(array_.dtype));
  const auto& s = array_.strides;
  const auto fb = static_cast<std::int64_t>(header_.frame_bytes());
  contiguous_ = s[3] == elem && s[2] == elem * array_.shape[3] && s[1] == fb &&
                (s[0] == fb * array_.shape[1] || array_.shape[0] == 1);
}

MemorySource::~MemorySource() {
  for (auto& [b, p] : own_pixels_) b->pixels = p;
}

std::byte* MemorySource::pool_pixels(FrameBatch* b) {
  for (auto& [slot, p] : own_pixels_) {
    if (slot == b) return p;
  }
  own_pixels_.emplace_back(b, b->pixels);
  return b->pixels;
}

void MemorySource::gather(std::uint64_t index, std::byte* dst) const {
  const auto rx = static_cast<std::int64_t>(index / array_.shape[1]);
  const auto ry = static_cast<std::int64_t>(index % array_.shape[1]);
  const auto& s = array_.strides;
  const std::size_t elem = dtype_size(array_.dtype);
  const std::byte* frame = array_.data + rx * s[0] + ry * s[1];
  for (std::uint32_t r = 0; r < array_.shape[2]; ++r) {
    const std::byte* row = frame + std::int64_t{r} * s[2];
    if (s[3] == static_cast<std::int64_t>(elem)) {
      std::memcpy(dst, row, elem * array_.shape[3]);
      dst += elem * array_.shape[3];
      continue;
    }
    for (std::uint32_t c = 0; c < array_.shape[3]; ++c, dst += elem) {
      std::memcpy(dst, row + std::int64_t{c} * s[3], elem);
    }
  }
}

FrameBatch* MemorySource::take_batch() {
  FrameBatch* b = ready_;
  ready_ = nullptr;
  return b;
}

SourceStatus MemorySource::next() {
  const std::uint64_t frames = header_.scan_size();
  const std::size_t fb = header_.frame_bytes();
  for (;;) {
    if (ready_ != nullptr) return SourceStatus::kBatchReady;
    switch (state_) {
      case State::kStart:
        state_ = State::kRunning;
        return SourceStatus::kSeriesStarted;
      case State::kRunning: {
        if (stop_requested() || next_ >= frames) {
          counts_.end = next_ >= frames ? SeriesEnd::kEndOfFile : SeriesEnd::kInterrupted;
          state_ = State::kEnding;
          continue;
        }
        if (rejected_) {
          const std::uint64_t n = frames - next_;
          counts_.frames_received += n;
          counts_.dropped[static_cast<std::size_t>(DropReason::kSeriesRejected)] += n;
          next_ = frames;
          continue;
        }
        if (array_.max_in_flight > 0 &&
            pool_.slots() - pool_.free_slots() >= array_.max_in_flight) {
          std::this_thread::sleep_for(std::chrono::microseconds(200));
          return SourceStatus::kIdle;
        }
        // Waiting for a slot is the back-pressure; kIdle lets the engine look for a stop.
        FrameBatch* b = pool_.acquire(std::chrono::milliseconds(100));
        if (b == nullptr) return SourceStatus::kIdle;
        std::byte* own = pool_pixels(b);
        const auto n =
            static_cast<std::uint32_t>(std::min<std::uint64_t>(b->capacity, frames - next_));
        b->first_arrival = std::chrono::steady_clock::now();
        if (contiguous_) {
          b->pixels = const_cast<std::byte*>(array_.data) + next_ * fb;
        } else {
          b->pixels = own;
          for (std::uint32_t i = 0; i < n; ++i) gather(next_ + i, b->frame_data(i));
        }
        for (std::uint32_t i = 0; i < n; ++i) b->index[i] = next_ + i;
        b->count = n;
        next_ += n;
        counts_.frames_received += n;
        counts_.frames_accepted += n;
        counts_.bytes_received += std::uint64_t{n} * fb;
        ready_ = b;
        continue;
      }
      case State::kEnding:
        state_ = State::kDone;
        return SourceStatus::kSeriesEnded;
      case State::kDone:
        return SourceStatus::kFinished;
    }
  }
}

}  // namespace stemflow::ingest
