// SPDX-License-Identifier: GPL-3.0-or-later
// The GPU side of the placement (placement.hpp): which device pipeline.device selects, the pinning
// of the batch pool, and, per series, which of the pipeline's operators run on the GPU (in one
// BatchProcessor pass per batch) and which stay on the CPU. Each operator offers its own task
// (Operator::offer_device, DevicePass); nothing here names an operator type. Built with a CPU-only
// stub when CUDA is off, so neither the placement nor the engine needs #ifdefs.
//
// Threading    process() runs concurrently for different batches (the engine's compute node);
//              start() and finish() run single-threaded between series.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/core/batch.hpp"
#include "pipeline/core/batch_pool.hpp"
#include "pipeline/core/operator.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow::gpu {

//! Where the pipeline runs.
struct DeviceChoice {
  bool cuda = false;
  bool required = false;  // pipeline.device = "cuda": a GPU set-up failure rejects the series
  int index = -1;
  //! "cpu", or e.g. "cuda:0 (NVIDIA H100 80GB HBM3, sm_90, 79.2 GiB)": the log line, the metrics
  //! label and the HDF5 provenance.
  std::string description = "cpu";
};

//! pipeline.device ("auto" | "cpu" | "cuda") -> the device. "auto" takes CUDA device 0 when this
//! build has CUDA and a device is present; "cuda" without one is a ConfigError (where = the key's
//! location, for the message). Logs the choice.
DeviceChoice choose_device(std::string_view requested, const std::string& where);

//! True when this build has the CUDA operators.
bool built_with_cuda();

class Offload {
 public:
  explicit Offload(DeviceChoice device);
  ~Offload();
  Offload(const Offload&) = delete;
  Offload& operator=(const Offload&) = delete;

  //! Hooks that page-lock the batch pool for full-rate copies (a warning if the OS refuses).
  BatchPool::MemoryHooks pinning() const;

  //! Per series, after every operator's start() and the pool's configure(): offers every operator
  //! the fused pass and so decides which operators the GPU runs (logging each decision and why an
  //! operator stays on the CPU), and sizes the device memory for batches of `batch_capacity`
  //! frames. If the GPU cannot be set up, everything stays on the CPU with an error in the log, or,
  //! when the device was required, ConfigError.
  void start(const SeriesHeader& series,
             const std::vector<std::unique_ptr<Operator>>& operators,
             std::uint32_t batch_capacity);
  //! True when operator `index` runs on the GPU this series.
  bool runs(std::size_t index) const;
  bool active() const;
  //! One GPU pass over the batch: writes the results of every GPU operator. Never throws: on a GPU
  //! failure the frames of those operators are marked failed.
  void process(FrameBatch& batch) noexcept;
  //! The per-series images of GPU operator `index` (mean / max pattern), as its finish() gives
  //! them.
  std::vector<SeriesImage> finish(std::size_t index);

  const DeviceChoice& device() const { return device_; }

  struct State;

 private:
  DeviceChoice device_;
  std::unique_ptr<State> state_;
};

//! nullptr when the choice is the CPU.
std::unique_ptr<Offload> make_offload(const DeviceChoice& device);

}  // namespace stemflow::gpu
