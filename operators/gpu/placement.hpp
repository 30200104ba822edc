// SPDX-License-Identifier: GPL-3.0-or-later
// Placement: where each of the pipeline's operators runs, and running them there. The engine's one
// object for it: per series it offers every operator to the fused GPU pass (Offload: each operator
// with a GPU twin offers its task, Operator::offer_device), per batch it runs that one pass and the
// CPU operators side by side, and at series end it takes each operator's images from where it ran.
// On the CPU (pipeline.device = "cpu", no GPU, or a build without CUDA) every operator runs on the
// CPU. The engine knows no operator kind and no device.
//
// Threading    process() runs concurrently for different batches (the engine's compute node);
//              start() and finish() run single-threaded between series.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "operators/gpu/gpu_offload.hpp"
#include "pipeline/core/batch.hpp"
#include "pipeline/core/batch_pool.hpp"
#include "pipeline/core/operator.hpp"
#include "pipeline/core/placement.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow::gpu {

//! An operator on the GPU reports the whole fused pass as its time per batch.
class Placement final : public stemflow::Placement {
 public:
  //! `operators` (the pipeline's, in result order) must outlive the placement and keep their
  //! number; `device` is choose_device's answer.
  Placement(const DeviceChoice& device,
            const std::vector<std::unique_ptr<Operator>>& operators,
            BatchTimer timer = {});
  ~Placement();
  Placement(const Placement&) = delete;
  Placement& operator=(const Placement&) = delete;

  //! Hooks that page-lock the batch pool for the device's copies (none on the CPU).
  BatchPool::MemoryHooks pinning() const override;
  void set_timer(BatchTimer timer) override { timer_ = std::move(timer); }
  //! Per series, after every operator's start() and the pool's configure(): decides where each
  //! operator runs (see Offload::start; ConfigError when a required GPU cannot be set up).
  void start(const SeriesHeader& series, std::uint32_t batch_capacity) override;
  //! Every operator's results for the batch: the fused GPU pass and the CPU operators side by side,
  //! each parallel over its frames. A failing operator (or GPU pass) fails its frames; no
  //! std::exception escapes, which would cancel the engine's graph.
  void process(FrameBatch& batch) const override;
  //! The per-series images of operator `index` (finish() of the operator, or of its GPU twin).
  std::vector<SeriesImage> finish(std::size_t index) override;
  //! True when operator `index` runs on the GPU this series.
  bool on_device(std::size_t index) const;

 private:
  const std::vector<std::unique_ptr<Operator>>& operators_;
  std::unique_ptr<Offload> offload_;  // null on the CPU
  BatchTimer timer_;
  std::vector<std::vector<std::size_t>> levels_;  // dependency_levels(), per series
};

}  // namespace stemflow::gpu
