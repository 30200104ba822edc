// SPDX-License-Identifier: GPL-3.0-or-later
// MaxPatternOp: the per-pixel maximum diffraction pattern of a series (shows weak, sparse
// reflections the mean washes out; used to place detectors). See
// mean_pattern/pattern_accumulator.hpp for the contract (outputs, threading).
#pragma once

#include <limits>

#include "operators/mean_pattern/pattern_accumulator.hpp"

namespace stemflow::ops {

struct MaxFold {
  static constexpr std::string_view kType = "max_pattern";
  static constexpr Combine kCombine = Combine::kMax;
  static constexpr double kIdentity = -std::numeric_limits<double>::infinity();
  static double fold(double acc, double v) { return v > acc ? v : acc; }
  static double combine(double a, double b) { return b > a ? b : a; }
  static double result(double acc, std::uint64_t) { return acc; }
  static void offer_device(gpu::DevicePass& pass);  // max_pattern_gpu.cpp
};

using MaxPatternOp = PatternAccumulatorOp<MaxFold>;

}  // namespace stemflow::ops
