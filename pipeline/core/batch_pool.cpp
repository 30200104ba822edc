// SPDX-License-Identifier: GPL-3.0-or-later
#include "pipeline/core/batch_pool.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "pipeline/core/expected.hpp"

namespace stemflow {

namespace {
constexpr std::size_t kAlignment = 4096;
}

BatchPool::BatchPool(std::size_t memory_limit, MemoryHooks hooks)
    : memory_limit_(memory_limit), hooks_(std::move(hooks)) {
  const std::size_t rounded = (memory_limit + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded == 0) throw ConfigError("pipeline.memory_limit must be > 0");
  memory_ = static_cast<std::byte*>(std::aligned_alloc(kAlignment, rounded));
  if (memory_ == nullptr) {
    throw ConfigError("cannot allocate pipeline.memory_limit = " + std::to_string(memory_limit) +
                      " bytes for the batch pool");
  }
  // Touch every page now: the engine's footprint is then fixed from the start (what the limit
  // promises) instead of creeping up the first time a backlog reaches deeper into the pool, and no
  // page fault lands on the receive path.
  std::memset(memory_, 0, rounded);
  memory_bytes_ = rounded;
  if (hooks_.on_allocate) hooks_.on_allocate(memory_, memory_bytes_);
}

BatchPool::~BatchPool() {
  if (hooks_.on_release) hooks_.on_release(memory_, memory_bytes_);
  std::free(memory_);
}

std::uint32_t BatchPool::configure(
    const SeriesHeader& series,
    std::uint32_t batch_frames,
    const std::vector<std::pair<std::uint32_t, std::uint32_t>>& result_shapes) {
  std::lock_guard lock(mutex_);
  if (free_.size() != slots_.size()) {
    throw std::logic_error("BatchPool::configure called while batches are in flight");
  }
  const std::size_t frame_bytes = series.frame_bytes();
  if (frame_bytes == 0) throw ConfigError("series has an empty frame shape");
  // Each slot starts on a 64-byte boundary so that vector loads of its first frame are aligned.
  auto slot_bytes_for = [&](std::uint32_t frames) {
    return (std::size_t{frames} * frame_bytes + 63) / 64 * 64;
  };
  std::uint32_t per_batch = std::max<std::uint32_t>(1, batch_frames);
  while (per_batch > 1 && memory_limit_ / slot_bytes_for(per_batch) < kMinSlots) {
    per_batch = std::max<std::uint32_t>(1, per_batch / 2);
  }
  const std::size_t slot_bytes = slot_bytes_for(per_batch);
  const std::size_t n_slots = memory_limit_ / slot_bytes;
  if (n_slots < kMinSlots) {
    throw ConfigError("pipeline.memory_limit (" + std::to_string(memory_limit_) +
                      " bytes) holds fewer than 2 frames of " + std::to_string(frame_bytes) +
                      " bytes");
  }

  slots_.clear();
  free_.clear();
  slots_.reserve(n_slots);
  for (std::size_t s = 0; s < n_slots; ++s) {
    auto b = std::make_unique<FrameBatch>();
    b->series = &series;
    b->capacity = per_batch;
    b->frame_bytes = frame_bytes;
    b->pixels = memory_ + s * slot_bytes;
    b->index.assign(per_batch, 0);
    b->results.resize(result_shapes.size());
    for (std::size_t o = 0; o < result_shapes.size(); ++o) {
      b->results[o].scalars_per_frame = result_shapes[o].first;
      b->results[o].max_peaks = result_shapes[o].second;
      b->results[o].resize(per_batch);
    }
    free_.push_back(b.get());
    slots_.push_back(std::move(b));
  }
  return per_batch;
}

void BatchPool::set_results_budget(std::size_t results_limit, std::size_t bytes_per_position) {
  results_limit_ = results_limit;
  bytes_per_position_ = std::max<std::size_t>(1, bytes_per_position);
}

namespace {
std::string mib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}
}  // namespace

Expected<void> BatchPool::admit(const SeriesHeader& series) const {
  // In floating point: a hostile header can make the products overflow 64 bits.
  const double frame_bytes =
      double(series.frame_rows) * double(series.frame_cols) * double(dtype_size(series.dtype));
  const double positions = double(series.scan_rows) * double(series.scan_cols);
  if (frame_bytes <= 0 || positions <= 0) {
    return make_drop(DropReason::kSeriesRejected,
                     "the series announces an empty scan or frame shape");
  }
  if (frame_bytes * double(kMinSlots) > double(memory_limit_)) {
    return make_drop(DropReason::kSeriesRejected,
                     "frames of " + std::to_string(series.frame_rows) + "x" +
                         std::to_string(series.frame_cols) + " " +
                         std::string(dtype_name(series.dtype)) + " (" + mib(frame_bytes) +
                         " each) do not fit " + std::to_string(kMinSlots) +
                         " to a pool of pipeline.memory_limit = " + mib(double(memory_limit_)));
  }
  const double results = positions * double(bytes_per_position_);
  if (results_limit_ > 0 && results > double(results_limit_)) {
    return make_drop(DropReason::kSeriesRejected,
                     "a " + std::to_string(series.scan_rows) + "x" +
                         std::to_string(series.scan_cols) + " scan needs " + mib(results) +
                         " of results (" + std::to_string(bytes_per_position_) +
                         " bytes per position), more than pipeline.results_limit = " +
                         mib(double(results_limit_)));
  }
  return {};
}

FrameBatch* BatchPool::acquire(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!cv_.wait_for(lock, timeout, [&] { return !free_.empty(); })) return nullptr;
  FrameBatch* b = free_.back();
  free_.pop_back();
  b->count = 0;
  b->computed = false;
  b->fill = nullptr;
  return b;
}

void BatchPool::release(FrameBatch* batch) {
  {
    std::lock_guard lock(mutex_);
    free_.push_back(batch);
  }
  cv_.notify_one();
}

std::size_t BatchPool::free_slots() const {
  std::lock_guard lock(mutex_);
  return free_.size();
}

}  // namespace stemflow
