// SPDX-License-Identifier: GPL-3.0-or-later
// The host-side bookkeeping of the GPU batch processor, kept free of CUDA so that it builds and is
// tested on machines without a GPU or a CUDA toolkit: which operators the GPU can run (and why
// not), the sizes every device buffer gets at start, the byte layout of the per-batch result block
// that comes back in one copy, the packing of detector masks, the unpacking of results into the
// operators' OperatorResults, and the ring of stream slots that bounds batches in flight.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "operators/bragg_disks/bragg_disks_params.hpp"
#include "operators/gpu/pixel_type.hpp"
#include "pipeline/core/batch.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow::gpu {

//! Largest Gaussian radius (int(4 sigma + 0.5)) of the fused shared-memory smoothing kernel: sigma
//! below 6.125 px. Larger sigmas keep the operator on the CPU.
constexpr int kMaxGaussRadius = 24;
//! Virtual detector and centre-of-mass masks of one pipeline the GPU sums (one bit each in the
//! packed mask word); operators beyond stay on the CPU.
constexpr std::size_t kMaxPackedMasks = 32;
//! Frame sides and batch sizes are bounded by the packed peak keys (16-bit row and column) and by
//! CUDA's grid y/z limit.
constexpr std::uint32_t kMaxFrameSide = 65535;
constexpr std::uint32_t kMaxBatchFrames = 65535;
//! Peaks per frame the per-warp selection keeps in shared memory (max_num_peaks above this stays on
//! the CPU).
constexpr int kMaxGpuPeaks = 512;
//! Shared memory a block may use on Hopper (sharedMemPerBlockOptin of sm_90); the device's own
//! figure is checked at start.
constexpr std::size_t kHopperSharedMemoryOptin = 227 * 1024;

//! stemflow::Dtype as the kernels see it.
PixelType pixel_type(Dtype d);

// ---- Bragg disks ------------------------------------------------------------------------------

//! Why BraggDisksOp with these parameters stays on the CPU; nullopt when the GPU runs it.
//! has_template: the operator has a correlation kernel. smem_optin: the device's per-block shared
//! memory limit (multicorr's patch needs it).
std::optional<std::string> bragg_unsupported_reason(
    const ops::BraggDisksParams& p,
    bool has_template,
    std::uint32_t rows,
    std::uint32_t cols,
    std::size_t smem_optin = kHopperSharedMemoryOptin);

//! Local maxima under py4DSTEM's mixed >= / > test are 8-isolated (no two maxima touch, not even
//! diagonally), so the interior [eB, N - eB) holds at most ceil(h / 2) * ceil(w / 2) of them: the
//! candidate buffer of a frame never overflows.
std::uint32_t max_candidates(std::uint32_t rows, std::uint32_t cols, int edge_boundary);

//! The geometry of multicorr's DFT patch (py4DSTEM's upsampled_correlation; see multicorr_cpu.hpp).
struct MulticorrGeometry {
  int us = 0;                  // upsample factor
  int n = 0;                   // patch side ceil(1.5 us)
  int g = 0;                   // globalShift fix(ceil(1.5 us) / 2)
  long long lx = 0;            // rows * us
  long long ly = 0;            // cols * us
  std::uint32_t ncols = 0;     // half-spectrum columns cols / 2 + 1
  bool nyq_row = false;        // even rows: the Nyquist row has no conjugate partner
  bool nyq_col = false;        // even cols
  std::size_t smem_bytes = 0;  // dynamic shared memory of the patch kernel
};
MulticorrGeometry multicorr_geometry(std::uint32_t rows, std::uint32_t cols, int upsample_factor);

// ---- results ----------------------------------------------------------------------------------

//! One detector sum of one frame as the device writes it: the exact integer sum (128 bits, for
//! integer pixels and binary masks) and the floating-point sum (float pixels or weighted masks).
struct DeviceSum {
  std::uint64_t lo;
  std::uint64_t hi;
  double value;
};
static_assert(sizeof(DeviceSum) == 24);

//! The 128-bit sum as a double, rounded as the CPU operator's static_cast<double>(unsigned
//! __int128).
double exact_to_double(const DeviceSum& s);

//! Where each result lives in one slot's result block (the same bytes on the device and in the
//! pinned host mirror, so one copy per batch brings everything back).
struct ResultLayout {
  std::uint32_t capacity = 0;
  std::size_t bad_offset = 0;  // u8 per frame: frame has NaN/inf pixels (f32 data)
  struct Bragg {
    std::uint32_t max_peaks = 0;
    std::size_t counts_offset = 0;  // u32 per frame
    std::size_t peaks_offset = 0;   // Peak (3 doubles) x max_peaks per frame
  };
  std::vector<Bragg> bragg;
  std::uint32_t detectors = 0;
  std::size_t detectors_offset = 0;  // DeviceSum x detectors per frame
  std::uint32_t com = 0;
  std::size_t com_offset = 0;  // DeviceSum x 3 (sum, sum qx, sum qy) x com per frame
  std::size_t bytes = 0;
};
ResultLayout make_result_layout(std::uint32_t capacity,
                                std::span<const std::uint32_t> bragg_max_peaks,
                                std::uint32_t detectors,
                                std::uint32_t com);

//! How a detector is summed on the device.
struct DetectorSpec {
  bool binary = true;           // weights are 0/1: integer-exact sums for integer pixels
  std::vector<double> weights;  // rows x cols, row-major (0/1 for binary)
};

//! The masks of the virtual detectors and the CoM regions packed for the device: bit d of bits[p]
//! is set when pixel p is inside binary mask d (d < 32); weighted masks keep their dense weights.
struct PackedMasks {
  std::vector<std::uint32_t> bits;
  std::vector<bool> binary;                // per mask
  std::vector<std::vector<double>> dense;  // per mask: the weights (empty for binary masks)
};
//! Throws std::invalid_argument for more than 32 masks or a mask of another size.
PackedMasks pack_masks(std::span<const DetectorSpec> masks, std::size_t pixels);

//! Writes one batch's results from the host mirror of the result block into the operators'
//! OperatorResults, as the CPU operators would have written them. `results` is indexed like the
//! layout's tasks: bragg[0..], then detectors, then com; null entries are skipped.
struct UnpackTargets {
  std::vector<OperatorResults*> bragg;
  std::vector<OperatorResults*> detectors;
  std::vector<OperatorResults*> com;
  std::vector<OperatorResults*> patterns;  // mean/max: only `failed` is written
};
struct UnpackCounts {
  std::uint64_t bragg_failed = 0;    // frames the Bragg operators marked failed
  std::uint64_t pattern_frames = 0;  // frames the mean/max accumulators took
};
UnpackCounts unpack_results(const std::byte* block,
                            const ResultLayout& layout,
                            std::uint32_t count,
                            bool integer_pixels,
                            std::span<const std::uint8_t> detector_binary,
                            std::span<const std::uint8_t> com_binary,
                            const UnpackTargets& targets);

// ---- stream slots ------------------------------------------------------------------------------

//! A fixed set of slots (a CUDA stream with its buffers each), handed out to concurrent callers:
//! acquire() blocks until one is free. With >= 2 slots, the copy of one batch overlaps the kernels
//! of another. Slots are handed out in the order they were freed, so a steady stream of batches
//! cycles through all of them.
class SlotRing {
 public:
  explicit SlotRing(std::size_t slots);
  std::size_t acquire();
  void release(std::size_t slot);
  std::size_t size() const { return n_; }
  std::size_t free_count() const;

 private:
  std::size_t n_;
  std::vector<std::size_t> free_;  // FIFO of free slots
  std::size_t head_ = 0;           // index of the next slot to hand out
  std::size_t count_ = 0;          // free slots
  mutable std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace stemflow::gpu
