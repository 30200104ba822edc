// SPDX-License-Identifier: GPL-3.0-or-later
#include "operators/mean_pattern/mean_pattern.hpp"

#include <cmath>
#include <limits>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

namespace stemflow::ops {
namespace {

// Adds one frame to sum; a float frame with a non-finite pixel is left out (false).
template <class PixelT>
bool add_frame(const PixelT* px, double* sum, std::size_t n) {
  if constexpr (std::is_same_v<PixelT, float>) {
    bool finite = true;
    for (std::size_t i = 0; i < n; ++i) finite &= std::isfinite(px[i]);
    if (!finite) return false;
  }
  for (std::size_t i = 0; i < n; ++i) sum[i] += static_cast<double>(px[i]);
  return true;
}

}  // namespace

void MeanPatternOp::start(const SeriesHeader& series) {
  rows_ = series.frame_rows;
  cols_ = series.frame_cols;
  dtype_ = series.dtype;
  acc_.clear();
}

void MeanPatternOp::process(const FrameBatch& batch, OperatorResults& out) const {
  const std::size_t n = std::size_t{rows_} * cols_;
  tbb::parallel_for(tbb::blocked_range<std::uint32_t>(0, batch.count),
                    [&](const tbb::blocked_range<std::uint32_t>& range) {
                      Accumulator* acc = nullptr;
                      try {
                        acc = &acc_.local();
                        if (acc->sum.size() != n) acc->sum.assign(n, 0.0);
                      } catch (...) {  // no memory for this thread's accumulator: its frames fail
                        for (auto i = range.begin(); i != range.end(); ++i) out.failed[i] = 1;
                        return;
                      }
                      for (auto i = range.begin(); i != range.end(); ++i) {
                        const bool ok = visit_dtype(dtype_, [&]<class PixelT>() {
                          return add_frame(batch.frame<PixelT>(i), acc->sum.data(), n);
                        });
                        out.failed[i] = ok ? 0 : 1;
                        if (ok) ++acc->frames;
                      }
                    });
}

std::vector<SeriesImage> MeanPatternOp::finish() {
  const std::size_t n = std::size_t{rows_} * cols_;
  SeriesImage img{"", rows_, cols_, std::vector<double>(n, 0.0), "counts"};
  std::uint64_t frames = 0;
  for (const auto& a : acc_) {
    if (a.frames == 0) continue;
    frames += a.frames;
    for (std::size_t i = 0; i < n; ++i) img.values[i] += a.sum[i];
  }
  for (auto& v : img.values) {
    v = frames ? v / double(frames) : std::numeric_limits<double>::quiet_NaN();
  }
  return {img};
}

}  // namespace stemflow::ops
