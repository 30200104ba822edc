// SPDX-License-Identifier: GPL-3.0-or-later
// The fixed pool of batch slots: the memory bound of the engine (pipeline.memory_limit). Pixel
// memory is allocated once at start; each series carves it into slots of batch_frames frames. A
// source that finds no free slot waits, which stops it reading its socket: that is the
// back-pressure.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "pipeline/core/batch.hpp"
#include "pipeline/core/expected.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow {

class BatchPool {
 public:
  //! Called on the pool's pixel memory right after it is allocated and right before it is freed,
  //! e.g. to page-lock it for DMA to a GPU (the engine passes cudaHostRegister / Unregister; this
  //! file stays free of CUDA).
  struct MemoryHooks {
    std::function<void(void* memory, std::size_t bytes)> on_allocate;
    std::function<void(void* memory, std::size_t bytes)> on_release;
  };

  //! Allocates `memory_limit` bytes of pixel memory, page-aligned. Throws ConfigError if
  //! impossible.
  explicit BatchPool(std::size_t memory_limit, MemoryHooks hooks = {});
  ~BatchPool();
  BatchPool(const BatchPool&) = delete;
  BatchPool& operator=(const BatchPool&) = delete;

  //! Carves the memory into slots for a series. Call only when every slot is free (between series).
  //! `result_shapes` gives (scalars_per_frame, max_peaks) per operator. Returns the frames per
  //! batch, reduced from `batch_frames` if the limit would otherwise hold fewer than kMinSlots
  //! slots; throws ConfigError if not even kMinSlots single frames fit.
  std::uint32_t configure(
      const SeriesHeader& series,
      std::uint32_t batch_frames,
      const std::vector<std::pair<std::uint32_t, std::uint32_t>>& result_shapes);

  //! The memory a series may claim beyond the pool: its scan-shaped results (maps, coverage, peak
  //! index), `bytes_per_position` for each scan position, at most `results_limit` bytes in all
  //! (pipeline.results_limit). Set by the engine once its operators are known.
  void set_results_budget(std::size_t results_limit, std::size_t bytes_per_position);
  //! Whether a series fits this engine's memory: two of its frames in the pool, and its results in
  //! the results budget. Sources ask before they allocate anything per scan position, and the
  //! engine before its operators and result store do; a series header is input from the network,
  //! so a refusal is a counted, logged rejection of that series, never an exception.
  Expected<void> admit(const SeriesHeader& series) const;

  //! A free, emptied slot, or nullptr if none became free within `timeout`.
  FrameBatch* acquire(std::chrono::milliseconds timeout);
  void release(FrameBatch* batch);

  std::size_t slots() const { return slots_.size(); }
  std::size_t free_slots() const;
  std::size_t memory_limit() const { return memory_limit_; }
  //! True when all slots are back (nothing in flight).
  bool idle() const { return free_slots() == slots_.size(); }

  static constexpr std::size_t kMinSlots = 2;

 private:
  std::size_t memory_limit_;
  std::size_t results_limit_ = 0;  // 0: no budget set (a pool used without an engine, in tests)
  std::size_t bytes_per_position_ = 3;
  std::size_t memory_bytes_ = 0;
  MemoryHooks hooks_;
  std::byte* memory_ = nullptr;
  std::vector<std::unique_ptr<FrameBatch>> slots_;
  std::vector<FrameBatch*> free_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace stemflow
