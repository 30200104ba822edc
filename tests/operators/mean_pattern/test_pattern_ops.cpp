// SPDX-License-Identifier: GPL-3.0-or-later
// Spec: the pattern operators (MeanPatternOp, MaxPatternOp: one accumulator, two folds) give the
// per-pixel mean / maximum of the frames processed, for every dtype, over several (also concurrent)
// batches; NaN frames are left out and marked failed; start() resets; no frames gives NaN.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <thread>

#include "operators/max_pattern/max_pattern.hpp"
#include "operators/mean_pattern/mean_pattern.hpp"

using namespace stemflow;
using namespace stemflow::ops;

namespace {

constexpr std::uint32_t kRows = 24, kCols = 20;

SeriesHeader header(Dtype d) {
  SeriesHeader h;
  h.scan_rows = 4;
  h.scan_cols = 8;
  h.frame_rows = kRows;
  h.frame_cols = kCols;
  h.dtype = d;
  return h;
}

// Random frames (values fit u8) in dtype d, and the same values as double.
std::vector<std::byte> frames_of(Dtype d,
                                 std::size_t n,
                                 unsigned seed,
                                 std::vector<double>& values) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(0, 255);
  const std::size_t npx = std::size_t{kRows} * kCols;
  values.resize(n * npx);
  for (auto& v : values) v = d == Dtype::kF32 ? u(rng) + 0.25 : u(rng);
  std::vector<std::byte> b(values.size() * dtype_size(d));
  visit_dtype(d, [&]<class PixelT>() {
    for (std::size_t i = 0; i < values.size(); ++i) {
      const PixelT p = static_cast<PixelT>(values[i]);
      std::memcpy(b.data() + i * sizeof(PixelT), &p, sizeof p);
    }
  });
  return b;
}

// What each operator must give for the values of one pixel over the frames, computed directly.
struct MeanCase {
  using Op = MeanPatternOp;
  static double expect(const std::vector<double>& px) {
    double s = 0;
    for (double v : px) s += v;
    return s / double(px.size());
  }
};
struct MaxCase {
  using Op = MaxPatternOp;
  static double expect(const std::vector<double>& px) {
    return *std::max_element(px.begin(), px.end());
  }
};

//! The values of pixel i in the given frames.
std::vector<double> pixel(const std::vector<double>& v,
                          std::size_t i,
                          std::initializer_list<std::size_t> frames) {
  std::vector<double> out;
  for (std::size_t f : frames) out.push_back(v[f * kRows * kCols + i]);
  return out;
}
std::vector<double> pixel(const std::vector<double>& v, std::size_t i, std::size_t n_frames) {
  std::vector<double> out;
  for (std::size_t f = 0; f < n_frames; ++f) out.push_back(v[f * kRows * kCols + i]);
  return out;
}

template <class OpT>
OperatorResults process(const OpT& op,
                        const SeriesHeader& h,
                        std::vector<std::byte>& px,
                        std::size_t first,
                        std::size_t count) {
  FrameBatch b;
  b.series = &h;
  b.frame_bytes = h.frame_bytes();
  b.count = b.capacity = static_cast<std::uint32_t>(count);
  b.pixels = px.data() + first * h.frame_bytes();
  OperatorResults r;
  r.resize(b.capacity);
  op.process(b, r);
  return r;
}

}  // namespace

template <class C>
class PatternOps : public ::testing::Test {};
using Cases = ::testing::Types<MeanCase, MaxCase>;
TYPED_TEST_SUITE(PatternOps, Cases);

// Several batches of every dtype: the image equals the direct computation.
TYPED_TEST(PatternOps, EqualsDirectComputationForAllDtypes) {
  for (Dtype d : {Dtype::kU8, Dtype::kU16, Dtype::kU32, Dtype::kF32}) {
    typename TypeParam::Op op("pattern");
    const SeriesHeader h = header(d);
    op.start(h);
    std::vector<double> v;
    auto px = frames_of(d, 32, 7, v);
    for (std::size_t f = 0; f < 32; f += 10)
      process(op, h, px, f, std::min<std::size_t>(10, 32 - f));
    const auto imgs = op.finish();
    ASSERT_EQ(imgs.size(), 1u);
    const auto& img = imgs[0];
    EXPECT_EQ(img.suffix, "");
    EXPECT_EQ(img.rows, kRows);
    EXPECT_EQ(img.cols, kCols);
    ASSERT_EQ(img.values.size(), std::size_t{kRows} * kCols);
    for (std::size_t i = 0; i < img.values.size(); ++i) {
      EXPECT_DOUBLE_EQ(img.values[i], TypeParam::expect(pixel(v, i, 32)))
          << "dtype " << dtype_name(d) << " pixel " << i;
    }
  }
}

// Batches processed from two threads at once give the same image.
TYPED_TEST(PatternOps, ConcurrentBatches) {
  typename TypeParam::Op op("pattern");
  const SeriesHeader h = header(Dtype::kU16);
  op.start(h);
  std::vector<double> v;
  auto px = frames_of(Dtype::kU16, 64, 3, v);
  std::thread t1([&] {
    for (int f = 0; f < 32; f += 8) process(op, h, px, f, 8);
  });
  std::thread t2([&] {
    for (int f = 32; f < 64; f += 8) process(op, h, px, f, 8);
  });
  t1.join();
  t2.join();
  const auto img = op.finish()[0];
  for (std::size_t i = 0; i < img.values.size(); ++i) {
    EXPECT_DOUBLE_EQ(img.values[i], TypeParam::expect(pixel(v, i, 64)));
  }
}

// A float frame with a NaN is left out (the mean divides by the frames processed) and marked
// failed; start() of a new series forgets the old one; no frames gives NaN.
TYPED_TEST(PatternOps, NanFramesStartResetAndEmptySeries) {
  typename TypeParam::Op op("pattern");
  const SeriesHeader h = header(Dtype::kF32);
  op.start(h);
  std::vector<double> v;
  auto px = frames_of(Dtype::kF32, 4, 11, v);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(px.data() + (2 * kRows * kCols + 5) * sizeof(float), &nan, sizeof nan);
  const auto r = process(op, h, px, 0, 4);
  EXPECT_EQ(r.failed, (std::vector<std::uint8_t>{0, 0, 1, 0}));
  auto img = op.finish()[0];
  for (std::size_t i = 0; i < img.values.size(); ++i) {
    EXPECT_DOUBLE_EQ(img.values[i], TypeParam::expect(pixel(v, i, {0, 1, 3})));
  }
  op.start(h);
  process(op, h, px, 3, 1);
  img = op.finish()[0];
  EXPECT_DOUBLE_EQ(img.values[0], v[3 * kRows * kCols]);
  op.start(h);
  img = op.finish()[0];
  EXPECT_TRUE(std::isnan(img.values[0]));
  EXPECT_TRUE(op.outputs().scalars.empty());
  EXPECT_EQ(op.outputs().max_peaks, 0u);
}
