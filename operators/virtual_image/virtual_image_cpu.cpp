// SPDX-License-Identifier: GPL-3.0-or-later
#include "operators/virtual_image/virtual_image_cpu.hpp"

#include <algorithm>
#include <type_traits>

namespace stemflow::ops {

namespace {
// Integer pixels accumulate in 128-bit integers: exact for any frame size and pixel type (a u32
// frame of 4096^2 pixels weighted by its row index overflows 64 bits).
template <class PixelT>
using Acc = std::conditional_t<std::is_integral_v<PixelT>, unsigned __int128, double>;
// Per span, 64 bits suffice for integers (<= 2^16 columns x 2^32 x 2^16) and let the loop
// vectorise.
template <class PixelT>
using SpanAcc = std::conditional_t<std::is_integral_v<PixelT>, std::uint64_t, double>;

// Sum of a run of pixels. 8- and 16-bit pixels are summed in 32 bits, which the compiler vectorises
// far better than 64-bit sums, in chunks short enough never to overflow (2^16 x (2^16 - 1) < 2^32).
template <class PixelT>
SpanAcc<PixelT> run_sum(const PixelT* p, std::uint32_t n) {
  if constexpr (std::is_integral_v<PixelT> && sizeof(PixelT) <= 2) {
    constexpr std::uint32_t kChunk = 1u << 16;
    std::uint64_t total = 0;
    for (std::uint32_t start = 0; start < n; start += kChunk) {
      const std::uint32_t end = std::min(n, start + kChunk);
      std::uint32_t s = 0;
      for (std::uint32_t j = start; j < end; ++j) s += p[j];
      total += s;
    }
    return total;
  } else {
    SpanAcc<PixelT> s = 0;
    for (std::uint32_t j = 0; j < n; ++j) s += p[j];
    return s;
  }
}
}  // namespace

template <class PixelT>
double masked_sum(const PixelT* frame, const DetectorMask& mask) {
  if (!mask.binary()) {
    double s = 0;
    for (const auto& w : mask.weights()) s += double(frame[w.offset]) * w.weight;
    return s;
  }
  Acc<PixelT> total = 0;
  const std::size_t cols = mask.cols();
  for (const auto& span : mask.spans()) {
    const PixelT* row = frame + std::size_t{span.row} * cols;
    total += run_sum(row + span.col_begin, span.col_end - span.col_begin);
  }
  return static_cast<double>(total);
}

template <class PixelT>
Moments masked_moments(const PixelT* frame, const DetectorMask& mask) {
  Moments m;
  if (!mask.binary()) {
    const std::size_t cols = mask.cols();
    for (const auto& w : mask.weights()) {
      const double v = double(frame[w.offset]) * w.weight;
      m.sum += v;
      m.sum_qx += v * double(w.offset / cols);
      m.sum_qy += v * double(w.offset % cols);
    }
    return m;
  }
  Acc<PixelT> sum = 0, sum_qx = 0, sum_qy = 0;
  const std::size_t cols = mask.cols();
  for (const auto& span : mask.spans()) {
    const PixelT* row = frame + std::size_t{span.row} * cols;
    SpanAcc<PixelT> s = 0, t = 0;
    for (std::uint32_t j = span.col_begin; j < span.col_end; ++j) {
      s += row[j];
      t += SpanAcc<PixelT>(row[j]) * j;
    }
    sum += s;
    sum_qx += Acc<PixelT>(s) * span.row;
    sum_qy += t;
  }
  m.sum = static_cast<double>(sum);
  m.sum_qx = static_cast<double>(sum_qx);
  m.sum_qy = static_cast<double>(sum_qy);
  return m;
}

#define STEMFLOW_INSTANTIATE(T)                                 \
  template double masked_sum<T>(const T*, const DetectorMask&); \
  template Moments masked_moments<T>(const T*, const DetectorMask&);
STEMFLOW_INSTANTIATE(std::uint8_t)
STEMFLOW_INSTANTIATE(std::uint16_t)
STEMFLOW_INSTANTIATE(std::uint32_t)
STEMFLOW_INSTANTIATE(float)
#undef STEMFLOW_INSTANTIATE

}  // namespace stemflow::ops
