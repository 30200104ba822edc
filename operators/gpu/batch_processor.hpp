// SPDX-License-Identifier: GPL-3.0-or-later
// BatchProcessor: the GPU side of a pipeline. One host-to-device copy per batch feeds every GPU
// operator (Bragg disks, virtual detectors, centre of mass, mean / max pattern); only the reduced
// results come back, in one device-to-host copy per batch.
//
// Inputs       batches of frames (u8, u16, u32 or f32, rows x cols) in host memory, ideally pinned
//              (pin_host_memory); any count up to the capacity given at construction.
// Outputs      per batch: the OperatorResults of each task, exactly as the CPU operators write them
//              (peak lists in py4DSTEM's order, detector sums, CoM); per series: the mean / max
//              pattern accumulators.
// Device       everything is allocated in the constructor: per stream slot one arena (frames,
//              FFT buffers, candidate keys, sort storage, results) and cuFFT plans; shared constant
//              tables (template spectra, masks). Nothing is allocated per batch.
// Threading    submit/complete (and process) may be called from several threads at once: each
//              batch takes a stream slot (SlotRing), so with >= 2 slots the copy of one batch
//              overlaps the kernels of another. Slots are handed out round robin.
// Errors       the constructor throws ConfigError (no device, not enough memory, a cuFFT plan that
//              fails); per batch, a CUDA failure is returned as an Error and the batch's frames are
//              left to the caller to mark failed.
//
// This header holds no CUDA types: the engine glue and the benchmark include it without CUDA.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "operators/bragg_disks/bragg_disks_params.hpp"
#include "operators/bragg_disks/probe_template.hpp"
#include "operators/gpu/gpu_plan.hpp"
#include "pipeline/core/expected.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow::gpu {

struct BraggTask {
  ops::BraggDisksParams params;
  ops::ProbeKernel kernel;  // corner-centred; empty = delta template (corrected no-template mode)
};

struct ProcessorSpec {
  std::uint32_t rows = 0;
  std::uint32_t cols = 0;
  Dtype dtype = Dtype::kU16;
  std::uint32_t capacity = 0;  // frames per batch, at most
  std::vector<BraggTask> bragg;
  std::vector<DetectorSpec> detectors;
  std::vector<DetectorSpec> com;  // centre-of-mass regions
  bool mean_pattern = false;
  bool max_pattern = false;
  int device = 0;
  int slots = 3;         // stream slots (batches in flight on the GPU); at least 2 for overlap
  bool profile = false;  // record per-stage CUDA events (stage_times)
};

//! Accumulated GPU time per stage, in milliseconds, over the completed batches (profile = true).
struct StageTimes {
  double copy_in = 0;     // host-to-device copy of the frames
  double frame_pass = 0;  // NaN flags, virtual detectors, CoM, mean / max
  double fft = 0;         // pixel conversion, R2C, hybrid multiply, C2R
  double peaks = 0;       // smoothing, maxima, sort, filters, poly / multicorr
  double copy_out = 0;    // device-to-host copy of the results
  std::uint64_t batches = 0;
};

class BatchProcessor {
 public:
  explicit BatchProcessor(ProcessorSpec spec);
  ~BatchProcessor();
  BatchProcessor(const BatchProcessor&) = delete;
  BatchProcessor& operator=(const BatchProcessor&) = delete;

  using Ticket = std::size_t;

  //! Takes a free stream slot (waits for one), enqueues the copy of `count` frames, every kernel
  //! and the copy of the results, and returns without waiting. `frames` must stay untouched until
  //! complete() returns.
  Expected<Ticket> submit(const std::byte* frames, std::uint32_t count);
  //! Waits for the batch, writes its results into `targets` and frees the slot.
  Expected<UnpackCounts> complete(Ticket ticket, const UnpackTargets& targets);
  //! submit + complete.
  Expected<UnpackCounts> process(const std::byte* frames,
                                 std::uint32_t count,
                                 const UnpackTargets& targets);

  //! Per-pixel sum over all frames taken so far (all slots), rows x cols; empty without
  //! mean_pattern. Call when no batch is in flight.
  std::vector<double> mean_sum() const;
  //! Per-pixel maximum so far (-inf where no frame was taken); empty without max_pattern.
  std::vector<double> max_pattern() const;

  StageTimes stage_times() const;
  const ProcessorSpec& spec() const { return spec_; }
  std::size_t slots() const;
  //! Device memory this processor holds, bytes.
  std::size_t device_bytes() const;

  struct Impl;

 private:
  ProcessorSpec spec_;
  std::unique_ptr<Impl> impl_;
};

// ---- device and host memory helpers (no CUDA types)
// -----------------------------------------------

//! CUDA devices usable by this process (0 without a driver or device). Never throws.
int cuda_device_count(std::string* why_none = nullptr);

struct DeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0;
  int cc_minor = 0;
  std::size_t memory_bytes = 0;
  std::size_t smem_optin = 0;  // shared memory per block with opt-in
  int multiprocessors = 0;
};
//! Throws ConfigError if the device cannot be queried.
DeviceInfo cuda_device_info(int index);

//! Page-locks host memory for full-rate DMA (cudaHostRegister). Returns an error message, or empty.
std::string pin_host_memory(void* p, std::size_t bytes);
void unpin_host_memory(void* p);

//! Pinned host allocation for benchmarks and tests; throws ConfigError. Freed with free_pinned.
void* alloc_pinned(std::size_t bytes);
void free_pinned(void* p);

}  // namespace stemflow::gpu
