// SPDX-License-Identifier: GPL-3.0-or-later
// MeanPatternOp: the mean diffraction pattern of a series (what a user looks at to place
// detectors): the per-pixel mean, in float64, over the frames actually processed. See
// pattern_accumulator.hpp for the contract (outputs, threading).
#pragma once

#include "operators/mean_pattern/pattern_accumulator.hpp"

namespace stemflow::ops {

struct MeanFold {
  static constexpr std::string_view kType = "mean_pattern";
  static constexpr Combine kCombine = Combine::kMean;
  static constexpr double kIdentity = 0.0;
  static double fold(double acc, double v) { return acc + v; }
  static double combine(double a, double b) { return a + b; }
  static double result(double acc, std::uint64_t frames) { return acc / double(frames); }
  static void offer_device(gpu::DevicePass& pass);  // mean_pattern_gpu.cpp
};

using MeanPatternOp = PatternAccumulatorOp<MeanFold>;

}  // namespace stemflow::ops
