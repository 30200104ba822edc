// SPDX-License-Identifier: GPL-3.0-or-later
// DevicePass: the fused GPU pass of one series being assembled from the operators' offers. The
// placement offers each operator in turn (Operator::offer_device); an operator with a GPU twin adds
// its task, or declines saying why; the pass records which stage of the BatchProcessor computes
// each operator's results and builds the ProcessorSpec. One pass per batch for all GPU operators
// stays the design: an operator only says what it needs, never how the pass runs.
//
// CUDA-free (stemflow_gpu_host): the operators' GPU hooks (operators/<name>/<name>_gpu.cpp) and the
// CPU-only build compile against it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "operators/gpu/batch_processor.hpp"
#include "operators/gpu/gpu_plan.hpp"
#include "pipeline/core/operator.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow::gpu {

//! Where one operator's results come from in the fused pass: a stage of the BatchProcessor and the
//! operator's index among that stage's tasks (ProcessorSpec's lists, UnpackTargets' slots).
struct DeviceTask {
  enum class Stage { kBragg, kDetector, kCom, kMeanPattern, kMaxPattern };
  Stage stage = Stage::kDetector;
  std::size_t index = 0;
};

class DevicePass {
 public:
  //! A pass over the frames of `series`; `smem_optin` is the device's shared memory per block.
  DevicePass(const SeriesHeader& series, std::size_t smem_optin);

  // ---- what an operator's offer_device() uses ----

  std::uint32_t rows() const { return spec_.rows; }
  std::uint32_t cols() const { return spec_.cols; }
  Dtype dtype() const { return spec_.dtype; }
  std::size_t smem_optin() const { return smem_optin_; }

  //! Bragg disk detection with these parameters and template (the operator checked
  //! bragg_unsupported_reason first).
  void add_bragg(BraggTask task);
  //! A virtual detector's sum, or a centre-of-mass region's moments. The pass packs at most
  //! kMaxPackedMasks masks of both kinds together; an operator beyond them stays on the CPU.
  void add_detector(DetectorSpec mask);
  void add_com(DetectorSpec region);
  //! The series' mean / max pattern, accumulated on the device.
  void add_mean_pattern();
  void add_max_pattern();
  //! The operator cannot run on the device as configured: it stays on the CPU, `why` is logged.
  void decline(std::string why);

  // ---- what the placement uses ----

  //! Asks `op` for its share of the pass. Returns its task, or nullopt when it stays on the CPU;
  //! then declined() says why, or is empty when the operator has no GPU twin.
  std::optional<DeviceTask> offer(const Operator& op);
  const std::string& declined() const { return why_; }
  //! The BatchProcessor's specification so far (rows, cols, dtype and every task; the caller sets
  //! capacity, device and slots).
  ProcessorSpec& spec() { return spec_; }

 private:
  void take(DeviceTask task);

  ProcessorSpec spec_;
  std::size_t smem_optin_;
  std::optional<DeviceTask> task_;  // the answer of the operator being offered
  std::string why_;
};

}  // namespace stemflow::gpu
