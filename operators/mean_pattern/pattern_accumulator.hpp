// SPDX-License-Identifier: GPL-3.0-or-later
// What the per-series pattern operators (mean_pattern, max_pattern) share: every frame folded into
// a float64 image per thread, the threads' images combined in finish(). A Fold policy says how:
//   static constexpr std::string_view kType;   the operator type
//   static constexpr double kIdentity;         the accumulator's starting value
//   static double fold(double acc, double v);  one pixel of one frame into the accumulator
//   static double combine(double a, double b); two threads' accumulators
//   static double result(double acc, std::uint64_t frames);  the reported value (frames > 0)
//   static constexpr Combine kCombine;          how several processes' results combine
//   static void offer_device(gpu::DevicePass&);  its GPU twin (<name>_gpu.cpp)
//
// Inputs       frames of one series, any dtype (u8, u16, u32, f32), rows x cols.
// Outputs      no per-frame values; finish() returns one SeriesImage (suffix "", rows x cols,
// "counts"),
//              NaN everywhere if no frame was processed. A float frame holding NaN/inf is left out
//              and marked failed.
// Threading    process() runs a tbb::parallel_for over the batch's frames and may run for several
//              batches at once; each thread folds into its own accumulator (allocated on its first
//              frame of the series). start() resets everything; finish() is single-threaded.
#pragma once

#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "pipeline/core/operator.hpp"

namespace stemflow::ops {

template <class Fold>
class PatternAccumulatorOp final : public Operator {
 public:
  static constexpr std::string_view kType = Fold::kType;

  explicit PatternAccumulatorOp(std::string name) : Operator(std::move(name)) {}

  std::string_view type() const override { return kType; }

  void start(const SeriesHeader& series) override {
    rows_ = series.frame_rows;
    cols_ = series.frame_cols;
    dtype_ = series.dtype;
    acc_.clear();
  }

  OutputSpec outputs() const override { return {}; }

  void offer_device(gpu::DevicePass& pass) const override { Fold::offer_device(pass); }

  void process(const FrameBatch& batch, OperatorResults& out) const override {
    const std::size_t n = std::size_t{rows_} * cols_;
    tbb::parallel_for(tbb::blocked_range<std::uint32_t>(0, batch.count), [&](const auto& range) {
      Accumulator* acc = nullptr;
      try {
        acc = &acc_.local();
        if (acc->values.size() != n) acc->values.assign(n, Fold::kIdentity);
      } catch (...) {  // no memory for this thread's accumulator: its frames fail
        for (auto i = range.begin(); i != range.end(); ++i) out.failed[i] = 1;
        return;
      }
      for (auto i = range.begin(); i != range.end(); ++i) {
        const bool ok = visit_dtype(dtype_, [&]<class PixelT>() {
          return fold_frame(batch.frame<PixelT>(i), acc->values.data(), n);
        });
        out.failed[i] = ok ? 0 : 1;
        if (ok) ++acc->frames;
      }
    });
  }

  std::vector<SeriesImage> finish() override {
    const std::size_t n = std::size_t{rows_} * cols_;
    SeriesImage img{"", rows_, cols_, std::vector<double>(n, Fold::kIdentity), "counts"};
    std::uint64_t frames = 0;
    for (const auto& a : acc_) {
      if (a.frames == 0) continue;
      frames += a.frames;
      for (std::size_t i = 0; i < n; ++i) img.values[i] = Fold::combine(img.values[i], a.values[i]);
    }
    for (auto& v : img.values) {
      v = frames ? Fold::result(v, frames) : std::numeric_limits<double>::quiet_NaN();
    }
    img.combine = Fold::kCombine;  // how the processes of an MPI job make the whole series' image
    img.frames = frames;
    return {img};
  }

 private:
  struct Accumulator {
    std::vector<double> values;
    std::uint64_t frames = 0;
  };

  // Folds one frame in; a float frame with a non-finite pixel is left out (false).
  template <class PixelT>
  static bool fold_frame(const PixelT* px, double* acc, std::size_t n) {
    if constexpr (std::is_same_v<PixelT, float>) {
      bool finite = true;
      for (std::size_t i = 0; i < n; ++i) finite &= std::isfinite(px[i]);
      if (!finite) return false;
    }
    for (std::size_t i = 0; i < n; ++i) acc[i] = Fold::fold(acc[i], static_cast<double>(px[i]));
    return true;
  }

  std::uint32_t rows_ = 0;
  std::uint32_t cols_ = 0;
  Dtype dtype_ = Dtype::kU16;
  mutable tbb::enumerable_thread_specific<Accumulator> acc_;
};

}  // namespace stemflow::ops
