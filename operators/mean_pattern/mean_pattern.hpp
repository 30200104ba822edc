// SPDX-License-Identifier: GPL-3.0-or-later
// MeanPatternOp: the mean diffraction pattern of a series (what a user looks at to place detectors).
//
// Inputs       frames of one series, any dtype (u8, u16, u32, f32), rows x cols.
// Outputs      no per-frame values; finish() returns one SeriesImage (suffix "", rows x cols, "counts"):
//              the per-pixel mean over the frames actually processed (NaN everywhere if there were
//              none). A float frame holding NaN/inf is left out and marked failed.
// Parameters   none.
// Device       none.
// Threading    process() runs a tbb::parallel_for over the batch's frames and may run for several
//              batches at once; each thread sums into its own float64 accumulator (allocated on its
//              first frame of the series), and finish() adds them up. start() resets everything.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <tbb/enumerable_thread_specific.h>

#include "pipeline/operator.hpp"

namespace stemflow::ops {

class MeanPatternOp final : public Operator {
 public:
  static constexpr std::string_view kType = "mean_pattern";

  explicit MeanPatternOp(std::string name) : Operator(std::move(name)) {}

  std::string_view type() const override { return kType; }
  void start(const SeriesHeader& series) override;
  OutputSpec outputs() const override { return {}; }
  void process(const FrameBatch& batch, OperatorResults& out) const override;
  std::vector<SeriesImage> finish() override;

 private:
  struct Accumulator {
    std::vector<double> sum;
    std::uint64_t frames = 0;
  };
  std::uint32_t rows_ = 0;
  std::uint32_t cols_ = 0;
  Dtype dtype_ = Dtype::kU16;
  mutable tbb::enumerable_thread_specific<Accumulator> acc_;
};

}  // namespace stemflow::ops
