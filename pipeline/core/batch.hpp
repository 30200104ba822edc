// SPDX-License-Identifier: GPL-3.0-or-later
// A batch: up to `capacity` frames of one series, in arrival order, in one contiguous buffer taken
// from the fixed pool, plus the result area every operator writes for those frames. Nothing here
// allocates after the series has started.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "pipeline/core/series.hpp"

namespace stemflow {

//! One Bragg peak, as py4DSTEM's BraggVectors stores it: qx = row, qy = column, raw detector
//! pixels.
struct Peak {
  double qx;
  double qy;
  double intensity;
};

//! What one operator produced for the frames of one batch. Sized once per series (start-up), then
//! only written. Frame i's values live at [i * scalars_per_frame, (i + 1) * scalars_per_frame).
struct OperatorResults {
  std::uint32_t scalars_per_frame = 0;
  std::uint32_t max_peaks = 0;
  std::vector<double> scalars;
  std::vector<Peak> peaks;                 // capacity * max_peaks
  std::vector<std::uint32_t> peak_counts;  // per frame
  std::vector<std::uint8_t> failed;        // per frame: 1 when the operator could not process it

  void resize(std::uint32_t capacity) {
    scalars.assign(std::size_t{capacity} * scalars_per_frame, 0.0);
    peaks.assign(std::size_t{capacity} * max_peaks, Peak{});
    peak_counts.assign(max_peaks ? capacity : 0, 0);
    failed.assign(capacity, 0);
  }
  std::span<double> frame_scalars(std::uint32_t i) {
    return {scalars.data() + std::size_t{i} * scalars_per_frame, scalars_per_frame};
  }
  std::span<const double> frame_scalars(std::uint32_t i) const {
    return {scalars.data() + std::size_t{i} * scalars_per_frame, scalars_per_frame};
  }
  //! The whole peak area of frame i (max_peaks records); the first peak_counts[i] are valid.
  std::span<Peak> frame_peaks(std::uint32_t i) {
    return {peaks.data() + std::size_t{i} * max_peaks, max_peaks};
  }
  std::span<const Peak> frame_peaks(std::uint32_t i) const {
    return {peaks.data() + std::size_t{i} * max_peaks, peak_counts.empty() ? 0 : peak_counts[i]};
  }
};

struct FrameBatch;

//! Work a source leaves for the graph: filling a batch's pixels on the worker that then computes
//! it (a file replay's reads), so that reading scales with pipeline.threads and the thread that
//! feeds the graph only hands out slots. fill() may run on several workers at once (different
//! batches). A frame it cannot fill is taken out of the batch (count and index compacted) and
//! counted by the source as dropped (Source::settle()).
class BatchFill {
 public:
  virtual void fill(FrameBatch& batch) = 0;

 protected:
  ~BatchFill() = default;
};

//! A batch slot of the pool. The source fills frames (itself, or through `fill`); operators read
//! pixels and write `results`; the sink reads both and returns the slot to the pool.
struct FrameBatch {
  std::uint64_t sequence = 0;  // global order of batches through the graph, set by the engine
  const SeriesHeader* series = nullptr;
  std::uint32_t count = 0;     // frames held
  std::uint32_t capacity = 0;  // frames that fit
  std::size_t frame_bytes = 0;
  std::byte* pixels = nullptr;           // capacity * frame_bytes, contiguous, in the pool
  std::vector<std::uint64_t> index;      // scan position of each frame (capacity entries)
  std::vector<OperatorResults> results;  // one per operator, in pipeline order
  std::chrono::steady_clock::time_point first_arrival{};
  //! The results are already there (another process of the job computed them and sent them
  //! here): the operators are skipped and `pixels` is not read. Reset by the pool.
  bool computed = false;
  //! Set: the pixels are not there yet; the engine runs fill->fill(*this) on a worker before the
  //! operators. Reset by the pool.
  BatchFill* fill = nullptr;

  std::byte* frame_data(std::uint32_t i) { return pixels + std::size_t{i} * frame_bytes; }
  const std::byte* frame_data(std::uint32_t i) const {
    return pixels + std::size_t{i} * frame_bytes;
  }
  template <class PixelT>
  const PixelT* frame(std::uint32_t i) const {
    return reinterpret_cast<const PixelT*>(frame_data(i));
  }
  bool full() const { return count == capacity; }
};

}  // namespace stemflow
