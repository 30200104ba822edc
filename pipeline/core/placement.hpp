// SPDX-License-Identifier: GPL-3.0-or-later
// The placement contract: where each of the pipeline's operators runs, and running them there. The
// engine asks one object per batch for every operator's results and knows no operator kind and no
// device; operators/gpu implements it (the fused one-pass GPU design, or every operator on the
// CPU).
//
// Threading    process() runs concurrently for different batches (the engine's compute node);
//              start() and finish() run single-threaded between series.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "pipeline/core/batch.hpp"
#include "pipeline/core/batch_pool.hpp"
#include "pipeline/core/operator.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow {

class Placement {
 public:
  //! Seconds operator `op` took on one batch, for the observers. Called from the compute threads.
  using BatchTimer = std::function<void(std::size_t op, double seconds)>;

  virtual ~Placement() = default;
  //! Hooks for the batch pool's memory (e.g. page-locking it for a device's copies).
  virtual BatchPool::MemoryHooks pinning() const = 0;
  virtual void set_timer(BatchTimer timer) = 0;
  //! Per series, after every operator's start() and the pool's configure(): decides where each
  //! operator runs. Throws ConfigError when the series cannot be placed (a required device).
  virtual void start(const SeriesHeader& series, std::uint32_t batch_capacity) = 0;
  //! Every operator's results for the batch. A failing operator fails its frames; nothing escapes.
  virtual void process(FrameBatch& batch) const = 0;
  //! The per-series images of operator `index`, from wherever it ran.
  virtual std::vector<SeriesImage> finish(std::size_t index) = 0;
};

}  // namespace stemflow
