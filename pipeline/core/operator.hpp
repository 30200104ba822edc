// SPDX-License-Identifier: GPL-3.0-or-later
// The operator contract. An operator is a function of a batch plus its own state; it knows nothing
// of the graph, the wire or the files.
//
// Lifecycle (one series at a time):
//   constructor  parse and validate parameters (throws ConfigError: the configuration is wrong)
//   start        once per series, single-threaded: check the series fits (frame shape, dtype), size
//                per-thread working state. Throws ConfigError if the series cannot be processed.
//   outputs      what the operator writes per frame, fixed after start
//   process      per batch, concurrently for different batches; the operator object is const here.
//                Never throws for bad data: a frame it cannot process is marked failed.
//   finish       once per series, single-threaded, after the last batch: per-series images.
//
// Placement: an operator with a GPU twin offers it in offer_device() (once per series, after
// start); the placement (operators/gpu/placement.hpp) decides where it runs. On the GPU, process()
// and finish() are not called: the fused pass writes the same results.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/core/batch.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow {

namespace gpu {
class DevicePass;  // operators/gpu/device_pass.hpp: the fused GPU pass being assembled
}

//! One per-frame scalar output; it becomes an (Rx, Ry) map named `<operator>` (when the operator
//! has a single scalar and `suffix` is empty) or `<operator>_<suffix>`.
struct ScalarOutput {
  std::string suffix;
  std::string units;
};

//! What an operator writes for each frame of a batch.
struct OutputSpec {
  std::vector<ScalarOutput> scalars;
  std::uint32_t max_peaks = 0;  // > 0: a peak list per frame (at most this many peaks)
};

//! How the per-series images of several processes that shared one series (MPI ranks, each with
//! its own frames) make the image of the whole series. kNone: the image is not made from the
//! process's own frames (or cannot be combined); only the writing process's is kept.
enum class Combine : std::uint8_t { kNone, kSum, kMax, kMean };

//! A per-series image (e.g. the mean diffraction pattern), produced by finish().
struct SeriesImage {
  std::string suffix;
  std::uint32_t rows = 0;
  std::uint32_t cols = 0;
  std::vector<double> values;  // rows * cols, row-major
  std::string units;
  Combine combine = Combine::kNone;
  std::uint64_t frames = 0;  // frames behind the image (the weight of a kMean)
};

//! Folds `other` (the same image made by another process of the job) into `mine` by their
//! `combine` rule. NaN (no frame) is the identity; images that do not match (suffix, shape or rule)
//! are an error the caller reports.
bool combine_into(SeriesImage& mine, const SeriesImage& other);

class Operator {
 public:
  explicit Operator(std::string name) : name_(std::move(name)) {}
  virtual ~Operator() = default;
  Operator(const Operator&) = delete;
  Operator& operator=(const Operator&) = delete;

  const std::string& name() const { return name_; }
  virtual std::string_view type() const = 0;

  virtual void start(const SeriesHeader& series) = 0;
  virtual OutputSpec outputs() const = 0;
  virtual void process(const FrameBatch& batch, OperatorResults& out) const = 0;
  virtual std::vector<SeriesImage> finish() { return {}; }
  //! Offers the operator's work to the fused GPU pass of the series: an operator with a GPU twin
  //! adds its task to `pass` (DevicePass::add_*), or declines saying why (parameters the device
  //! does not support). By default an operator has no twin and stays on the CPU.
  virtual void offer_device(gpu::DevicePass& pass) const { (void)pass; }

 private:
  std::string name_;
};

}  // namespace stemflow
