// SPDX-License-Identifier: GPL-3.0-or-later
// BraggDisksOp: Bragg disk detection by template correlation, reproducing py4DSTEM 0.14.18's CPU
// path (DataCube.find_Bragg_disks) frame by frame.
//
// Inputs       frames of one series, any dtype (u8, u16, u32, f32), rows x cols.
// Outputs      per frame: a peak list (qx = row, qy = column, raw detector pixels, intensity = the
//              correlation value py4DSTEM reports) of at most max_num_peaks peaks, in py4DSTEM's
//              order; one scalar `count` (peaks). A frame with NaN/inf pixels is marked failed
//              (count NaN, no peaks) and counted in failed_frames().
// Parameters   BraggDisksParams (bragg_disks_params.hpp), and the template: a real-space kernel the
//              frame's shape with the probe centre at pixel (0, 0) (probe_template.hpp builds it as
//              py4DSTEM does); an empty kernel means no template (see README: py4DSTEM's bug).
// Device       CPU (FFTW single or double precision); its GPU twin runs in the fused pass
//              (offer_device, operators/gpu) when the device supports its parameters.
// Threading    process() runs a tbb::parallel_for over the frames of the batch and may run for
//              several batches at once. Shared state (template spectrum, tables) is immutable after
//              start(); each thread owns a workspace (FFTW plans and buffers) created on its first
//              frame and kept for the series, so nothing is allocated per frame.
#pragma once

#include <tbb/enumerable_thread_specific.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "operators/bragg_disks/bragg_disks_cpu.hpp"
#include "operators/bragg_disks/bragg_disks_params.hpp"
#include "operators/bragg_disks/probe_template.hpp"
#include "pipeline/core/operator.hpp"

namespace stemflow::ops {

class BraggDisksOp final : public Operator {
 public:
  static constexpr std::string_view kType = "bragg_disks";

  //! Validates params (throws ConfigError naming the field); the template shape is checked in
  //! start().
  BraggDisksOp(std::string name, BraggDisksParams params, ProbeKernel kernel);

  std::string_view type() const override { return kType; }
  void start(const SeriesHeader& series) override;
  OutputSpec outputs() const override;
  void process(const FrameBatch& batch, OperatorResults& out) const override;
  //! Its GPU twin (bragg_disks/bragg_disks_gpu.cpp).
  void offer_device(gpu::DevicePass& pass) const override;

  const BraggDisksParams& params() const { return params_; }
  //! The correlation template (empty = none); the GPU path builds its spectrum from it.
  const ProbeKernel& kernel() const { return kernel_; }
  //! Frames marked failed since start() (non-finite pixels, or an internal error).
  std::uint64_t failed_frames() const { return failed_.load(std::memory_order_relaxed); }

 private:
  BraggDisksParams params_;
  ProbeKernel kernel_;
  Dtype dtype_ = Dtype::kU16;
  std::unique_ptr<BraggDiskDetector> detector_;
  mutable tbb::enumerable_thread_specific<std::unique_ptr<DetectorWorkspace>> workspaces_;
  mutable std::atomic<std::uint64_t> failed_{0};
};

}  // namespace stemflow::ops
