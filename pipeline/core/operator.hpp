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
// Operators that read other operators' results (origin reads a bragg_disks operator, strain_map
// reads bragg_disks, dpc reads center_of_mass): inputs() names them, each by the configuration key
// that names it and the type it must have; the plan checks every input exists, has that type and
// comes earlier in [[operators]] (so that there are no cycles and the order in the file is the
// order of computation), and binds the inputs' pipeline indices (input_indices()). process() then
// reads batch.results[input_indices()[k]]: the placement runs an operator only after its inputs
// have written the same batch. Three hooks serve what is not a function of one batch:
//   reduce       serial, on the sink thread, in batch order, after the result store took the
//                batch: cheap running reductions over the scan (the Bragg vector map). Must not
//                throw and must return quickly (it holds the sink node).
//   preview      on the sink thread, throttled by the engine (the dashboard's update interval):
//                live per-series images computed from the store so far (strain maps relative to a
//                reference that is still filling in). Must not throw.
//   conclude     once per series, after every finish(), in pipeline order: scan-wide fits that
//                need every frame (origin plane fit, DPC integration, strain relative to the
//                reference region); its images join finish()'s in the results.
//
// Placement: an operator with a GPU twin offers it in offer_device() (once per series, after
// start); the placement (operators/gpu/placement.hpp) decides where it runs. On the GPU, process()
// and finish() are not called: the fused pass writes the same results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/core/batch.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow {

namespace gpu {
class DevicePass;  // operators/gpu/device_pass.hpp: the fused GPU pass being assembled
}
class ResultStore;  // pipeline/core/result_store.hpp (which includes this header)

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

//! Which space a per-series image lives in: the file stores a diffraction-space image as a
//! DiffractionSlice (qx, qy) and a scan-shaped one as a RealSlice (rx, ry), as py4DSTEM does.
enum class ImageSpace { kDiffraction, kReal };

//! A per-series image (e.g. the mean diffraction pattern), produced by finish(), conclude() or,
//! while the scan runs, preview().
struct SeriesImage {
  std::string suffix;
  std::uint32_t rows = 0;
  std::uint32_t cols = 0;
  std::vector<double> values;  // rows * cols, row-major
  std::string units;
  ImageSpace space = ImageSpace::kDiffraction;
  bool diverging = false;  // display hint: a signed quantity around 0 (strain), shown +-symmetric
  Combine combine = Combine::kNone;
  std::uint64_t frames = 0;  // frames behind the image (the weight of a kMean)
};

//! Another operator whose results of the same batch an operator reads.
struct OperatorInput {
  std::string key;    // the configuration key that names it (for error messages)
  std::string where;  // "file:line: key" of that key, or empty
  std::string name;   // the operator's name, as configured
  std::string type;   // the type it must have (e.g. "bragg_disks")
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

  //! The operators this one reads, in the order input_indices() gives their pipeline indices.
  virtual std::vector<OperatorInput> inputs() const { return {}; }
  //! Set once by the plan, after it checked inputs() (see the top of this file).
  void bind_inputs(std::vector<std::size_t> indices) { input_indices_ = std::move(indices); }
  const std::vector<std::size_t>& input_indices() const { return input_indices_; }
  virtual void reduce(const FrameBatch& batch, const ResultStore& store) {
    (void)batch;
    (void)store;
  }
  virtual std::vector<SeriesImage> preview(const ResultStore& store) const {
    (void)store;
    return {};
  }
  virtual std::vector<SeriesImage> conclude(const ResultStore& store) {
    (void)store;
    return {};
  }

 private:
  std::string name_;
  std::vector<std::size_t> input_indices_;
};

//! Checks every operator's inputs() against the pipeline (each exists, has the type asked for
//! and comes earlier) and binds their indices. Throws ConfigError naming the key.
void link_operator_inputs(const std::vector<std::unique_ptr<Operator>>& ops);
//! The operators by dependency level: level 0 reads no other operator, level k reads only
//! operators of lower levels. Needs linked inputs.
std::vector<std::vector<std::size_t>> dependency_levels(
    const std::vector<std::unique_ptr<Operator>>& ops);

}  // namespace stemflow
