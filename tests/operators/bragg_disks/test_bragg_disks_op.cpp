// SPDX-License-Identifier: GPL-3.0-or-later
// Spec and edge cases of BraggDisksOp on synthetic frames: parameter validation, the operator
// contract (outputs, failed frames, template shape), all pixel dtypes, the py4DSTEM filter
// semantics against a plain reimplementation, and the no-template / sigma_dp compatibility
// switches.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <limits>
#include <numbers>
#include <random>

#include "operators/bragg_disks/bragg_disks.hpp"
#include "operators/bragg_disks/numpy_compat.hpp"
#include "pipeline/core/expected.hpp"

using namespace stemflow;
using namespace stemflow::ops;

namespace {

constexpr std::uint32_t kN = 64;

// A frame of a few logistic disks on a weak background, values <= 250 (fit every dtype),
// noise-free.
std::vector<double> synthetic_frame(unsigned seed, std::uint32_t n = kN) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> pos(8, n - 8), amp(40, 200);
  std::vector<double> f(std::size_t{n} * n, 2.0);
  for (int d = 0; d < 6; ++d) {
    const double x0 = pos(rng), y0 = pos(rng), a = amp(rng);
    for (std::uint32_t i = 0; i < n; ++i)
      for (std::uint32_t j = 0; j < n; ++j)
        f[i * n + j] += a / (1 + std::exp(4 * (std::hypot(i - x0, j - y0) - 2.5)));
  }
  for (auto& v : f) v = std::floor(std::min(v, 250.0));
  return f;
}

// A corner-centred disk kernel minus its mean (a zero-sum "edge" template).
ProbeKernel disk_kernel(std::uint32_t n = kN, double r = 2.5) {
  ProbeKernel k{n, n, std::vector<double>(std::size_t{n} * n)};
  double s = 0;
  for (std::uint32_t i = 0; i < n; ++i)
    for (std::uint32_t j = 0; j < n; ++j) {
      const double x = i < n / 2 ? double(i) : double(i) - n,
                   y = j < n / 2 ? double(j) : double(j) - n;
      k.values[i * n + j] = 1 / (1 + std::exp(4 * (std::hypot(x, y) - r)));
      s += k.values[i * n + j];
    }
  for (auto& v : k.values) v = v / s - 1.0 / (double(n) * n);
  return k;
}

template <class PixelT>
std::vector<std::byte> as_bytes(const std::vector<double>& f) {
  std::vector<std::byte> b(f.size() * sizeof(PixelT));
  for (std::size_t i = 0; i < f.size(); ++i) {
    const PixelT v = static_cast<PixelT>(f[i]);
    std::memcpy(b.data() + i * sizeof(PixelT), &v, sizeof(PixelT));
  }
  return b;
}

SeriesHeader header(Dtype d, std::uint32_t n = kN) {
  SeriesHeader h;
  h.scan_rows = 1;
  h.scan_cols = 4;
  h.frame_rows = h.frame_cols = n;
  h.dtype = d;
  return h;
}

struct BatchRun {
  OperatorResults r;
  std::vector<std::vector<Peak>> peaks;
};

// Runs a started op over `frames` (bytes of consecutive frames of header h).
BatchRun run(const BraggDisksOp& op, const SeriesHeader& h, std::vector<std::byte>& frames) {
  FrameBatch b;
  b.series = &h;
  b.frame_bytes = h.frame_bytes();
  b.count = b.capacity = static_cast<std::uint32_t>(frames.size() / h.frame_bytes());
  b.pixels = frames.data();
  BatchRun out;
  const auto spec = op.outputs();
  out.r.scalars_per_frame = static_cast<std::uint32_t>(spec.scalars.size());
  out.r.max_peaks = spec.max_peaks;
  out.r.resize(b.capacity);
  op.process(b, out.r);
  for (std::uint32_t i = 0; i < b.count; ++i) {
    const auto p = std::as_const(out.r).frame_peaks(i);
    out.peaks.emplace_back(p.begin(), p.end());
  }
  return out;
}

BraggDisksParams small_params(Subpixel sp = Subpixel::kPoly) {
  BraggDisksParams p;
  p.sigma = 1;
  p.edge_boundary = 3;
  p.min_peak_spacing = 4;
  p.max_num_peaks = 20;
  p.subpixel = sp;
  return p;
}

}  // namespace

// Each invalid parameter is a ConfigError whose message names the parameter.
TEST(BraggDisksOp, InvalidParametersThrowNamingTheField) {
  const auto expect_bad = [](auto mutate, const std::string& field) {
    BraggDisksParams p;
    mutate(p);
    try {
      BraggDisksOp op("b", p, disk_kernel());
      ADD_FAILURE() << "no ConfigError for " << field;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  expect_bad([](auto& p) { p.sigma = -1; }, "sigma");
  expect_bad([](auto& p) { p.sigma_dp = -0.5; }, "sigma_dp");
  expect_bad([](auto& p) { p.sigma = std::numeric_limits<double>::quiet_NaN(); }, "sigma");
  expect_bad([](auto& p) { p.upsample_factor = 2; }, "upsample_factor");
  expect_bad([](auto& p) { p.max_num_peaks = 0; }, "max_num_peaks");
  expect_bad([](auto& p) { p.corr_power = -0.1; }, "corr_power");
  expect_bad([](auto& p) { p.edge_boundary = -1; }, "edge_boundary");
  expect_bad([](auto& p) { p.min_relative_intensity = -1; }, "min_relative_intensity");
  expect_bad([](auto& p) { p.min_absolute_intensity = -1; }, "min_absolute_intensity");
  expect_bad([](auto& p) { p.relative_to_peak = -1; }, "relative_to_peak");
  expect_bad([](auto& p) { p.min_peak_spacing = -3; }, "min_peak_spacing");
  ProbeKernel k = disk_kernel();
  k.values[5] = std::numeric_limits<double>::infinity();
  EXPECT_THROW(BraggDisksOp("b", BraggDisksParams{}, k), ConfigError);
  EXPECT_NO_THROW(BraggDisksOp("b", BraggDisksParams{}, disk_kernel()));
}

// A template whose shape differs from the series' frames is a ConfigError at start().
TEST(BraggDisksOp, TemplateShapeMismatchAtStart) {
  BraggDisksOp op("b", small_params(), disk_kernel(kN));
  EXPECT_THROW(op.start(header(Dtype::kU16, kN + 2)), ConfigError);
  EXPECT_NO_THROW(op.start(header(Dtype::kU16, kN)));
}

// outputs(): one scalar `count` in peaks, and a peak list of max_num_peaks.
TEST(BraggDisksOp, OutputSpec) {
  BraggDisksOp op("b", small_params(), disk_kernel());
  const auto s = op.outputs();
  ASSERT_EQ(s.scalars.size(), 1u);
  EXPECT_EQ(s.scalars[0].suffix, "count");
  EXPECT_EQ(s.scalars[0].units, "peaks");
  EXPECT_EQ(s.max_peaks, 20u);
  EXPECT_EQ(op.type(), "bragg_disks");
}

// A float frame holding NaN (or inf) is marked failed and counted; its neighbours are unaffected.
TEST(BraggDisksOp, NonFiniteFrameIsMarkedFailed) {
  const SeriesHeader h = header(Dtype::kF32);
  BraggDisksOp op("b", small_params(Subpixel::kMulticorr), disk_kernel());
  op.start(h);
  std::vector<double> all;
  for (unsigned s = 0; s < 4; ++s) {
    const auto f = synthetic_frame(s);
    all.insert(all.end(), f.begin(), f.end());
  }
  auto bytes = as_bytes<float>(all);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::memcpy(bytes.data() + (1 * kN * kN + 100) * sizeof(float), &nan, sizeof(float));
  std::memcpy(bytes.data() + (3 * kN * kN + 7) * sizeof(float), &inf, sizeof(float));
  const auto out = run(op, h, bytes);
  EXPECT_EQ(out.r.failed, (std::vector<std::uint8_t>{0, 1, 0, 1}));
  EXPECT_EQ(out.r.peak_counts[1], 0u);
  EXPECT_TRUE(std::isnan(out.r.frame_scalars(1)[0]));
  EXPECT_GT(out.r.peak_counts[0], 0u);
  EXPECT_EQ(out.r.frame_scalars(0)[0], double(out.r.peak_counts[0]));
  EXPECT_EQ(op.failed_frames(), 2u);
  op.start(h);  // a new series resets the count
  EXPECT_EQ(op.failed_frames(), 0u);
}

// u8, u16, u32 and f32 frames with the same values give the same peaks (f32 and f64 precision).
TEST(BraggDisksOp, AllDtypesGiveTheSamePeaks) {
  std::vector<double> all;
  for (unsigned s = 10; s < 14; ++s) {
    const auto f = synthetic_frame(s);
    all.insert(all.end(), f.begin(), f.end());
  }
  for (Precision prec : {Precision::kF32, Precision::kF64}) {
    BraggDisksParams p = small_params(Subpixel::kMulticorr);
    p.precision = prec;
    std::vector<std::vector<std::vector<Peak>>> results;
    for (Dtype d : {Dtype::kU8, Dtype::kU16, Dtype::kU32, Dtype::kF32}) {
      BraggDisksOp op("b", p, disk_kernel());
      const SeriesHeader h = header(d);
      op.start(h);
      std::vector<std::byte> bytes =
          visit_dtype(d, [&]<class PixelT>() { return as_bytes<PixelT>(all); });
      const auto out = run(op, h, bytes);
      EXPECT_EQ(out.r.failed, std::vector<std::uint8_t>(4, 0));
      results.push_back(out.peaks);
    }
    for (std::size_t f = 0; f < 4; ++f) {
      ASSERT_GE(results[0][f].size(), 5u) << "frame " << f;  // the disks are found
      for (std::size_t d = 1; d < results.size(); ++d) {
        ASSERT_EQ(results[d][f].size(), results[0][f].size());
        for (std::size_t i = 0; i < results[0][f].size(); ++i) {
          EXPECT_EQ(results[d][f][i].qx, results[0][f][i].qx);
          EXPECT_EQ(results[d][f][i].qy, results[0][f][i].qy);
          EXPECT_EQ(results[d][f][i].intensity, results[0][f][i].intensity);
        }
      }
    }
  }
}

namespace {

// get_maxima_2D + filter_2D_maxima in pixel mode, written as plainly as numpy does it: roll-based
// neighbour tests, edge band, a full sort, then the four filters in order.
std::vector<Peak> plain_pixel_maxima(const std::vector<double>& ar,
                                     long n,
                                     const BraggDisksParams& p) {
  const auto at = [&](long i, long j) { return ar[((i + n) % n) * n + (j + n) % n]; };
  const long eb = std::max(p.edge_boundary, 1);
  std::vector<Peak> m;
  for (long i = 0; i < n; ++i)
    for (long j = 0; j < n; ++j) {
      const double v = at(i, j);
      const bool mx = v >= at(i + 1, j) && v > at(i - 1, j) && v >= at(i, j + 1) &&
                      v > at(i, j - 1) && v >= at(i + 1, j + 1) && v > at(i + 1, j - 1) &&
                      v >= at(i - 1, j + 1) && v > at(i - 1, j - 1);
      if (mx && i >= eb && i < n - eb && j >= eb && j < n - eb)
        m.push_back({double(i), double(j), v});
    }
  std::sort(m.begin(), m.end(), [](const Peak& a, const Peak& b) {
    if (a.intensity != b.intensity) return a.intensity > b.intensity;
    if (a.qx != b.qx) return a.qx > b.qx;
    return a.qy > b.qy;
  });
  if (p.min_absolute_intensity > 0)
    std::erase_if(m, [&](const Peak& a) { return a.intensity < p.min_absolute_intensity; });
  if (p.min_relative_intensity > 0 && m.size() > std::size_t(p.relative_to_peak)) {
    const double ref = m[p.relative_to_peak].intensity;
    std::erase_if(m, [&](const Peak& a) { return a.intensity / ref < p.min_relative_intensity; });
  }
  if (p.min_peak_spacing > 0) {
    std::vector<bool> del(m.size(), false);
    for (std::size_t i = 0; i < m.size(); ++i) {
      if (del[i]) continue;
      for (std::size_t j = i + 1; j < m.size(); ++j) {
        const double dx = m[j].qx - m[i].qx, dy = m[j].qy - m[i].qy;
        if (dx * dx + dy * dy < p.min_peak_spacing * p.min_peak_spacing) del[j] = true;
      }
    }
    std::vector<Peak> k;
    for (std::size_t i = 0; i < m.size(); ++i)
      if (!del[i]) k.push_back(m[i]);
    m = k;
  }
  if (m.size() > std::size_t(p.max_num_peaks)) m.resize(p.max_num_peaks);
  return m;
}

}  // namespace

// Pixel-mode selection (partial sorting, early stop, filters) equals a plain full-sort
// implementation of py4DSTEM's get_maxima_2D / filter_2D_maxima, over many parameter combinations
// on noisy frames with thousands of local maxima, including plateaus (ties) from clipped and
// quantised values.
TEST(BraggDisksOp, PixelSelectionEqualsPlainReimplementation) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  const long n = 96;
  std::vector<double> frame(n * n);
  for (auto& v : frame) v = std::floor(u(rng) * 6);  // quantised noise: many ties
  for (int d = 0; d < 8; ++d) frame[(10 + 9 * d) * n + 15 + 8 * d] += 60;
  ProbeKernel delta{std::uint32_t(n), std::uint32_t(n), std::vector<double>(n * n, 0.0)};
  delta.values[0] = 1.0;
  int combos = 0;
  for (double sigma : {0.0, 0.7})
    for (int eb : {0, 1, 5})
      for (double rel : {0.0, 0.2})
        for (int rtp : {0, 3})
          for (double ab : {0.0, 2.5})
            for (double sp : {0.0, 3.0, 7.5})
              for (int maxn : {1, 15, 400}) {
                BraggDisksParams p;
                p.sigma = sigma;
                p.edge_boundary = eb;
                p.min_relative_intensity = rel;
                p.relative_to_peak = rtp;
                p.min_absolute_intensity = ab;
                p.min_peak_spacing = sp;
                p.max_num_peaks = maxn;
                p.subpixel = Subpixel::kPixel;
                p.precision = Precision::kF64;
                BraggDiskDetector det(p, delta, n, n);
                auto ws = det.make_workspace();
                std::vector<Peak> out(maxn);
                DetectorStages st;
                const auto bytes = as_bytes<float>(frame);
                const auto cnt = det.detect(bytes.data(), Dtype::kF32, *ws, out, &st);
                ASSERT_TRUE(cnt);
                const auto want = plain_pixel_maxima(st.cc_smoothed, n, p);
                ASSERT_EQ(*cnt, want.size()) << "combo " << combos;
                for (std::size_t i = 0; i < want.size(); ++i) {
                  EXPECT_EQ(out[i].qx, want[i].qx) << "combo " << combos << " peak " << i;
                  EXPECT_EQ(out[i].qy, want[i].qy) << "combo " << combos << " peak " << i;
                  EXPECT_EQ(out[i].intensity, want[i].intensity);
                }
                ++combos;
              }
}

// No template, py4DSTEM mode (default): the maxima are those of max(real(ifft2(DP)), 0), not of the
// pattern (py4DSTEM's bug, reproduced). Corrected mode: the maxima of the pattern itself.
TEST(BraggDisksOp, NoTemplateModes) {
  const long n = 32;
  std::vector<double> frame(n * n, 1.0);
  frame[10 * n + 12] = 50;
  frame[20 * n + 7] = 30;
  BraggDisksParams p;
  p.sigma = 0;
  p.edge_boundary = 1;
  p.min_peak_spacing = 0;
  p.min_relative_intensity = 0.5;
  p.subpixel = Subpixel::kPixel;
  p.precision = Precision::kF64;
  const auto bytes = as_bytes<std::uint16_t>(frame);

  BraggDiskDetector compat(p, ProbeKernel{}, n, n);
  auto ws = compat.make_workspace();
  std::vector<Peak> out(p.max_num_peaks);
  DetectorStages st;
  ASSERT_TRUE(compat.detect(bytes.data(), Dtype::kU16, *ws, out, &st));
  for (long u = 0; u < n; ++u)
    for (long v = 0; v < n; ++v) {
      std::complex<double> s = 0;  // ifft2: (1/N) sum x exp(+2 pi i (u i + v j) / n)
      for (long i = 0; i < n; ++i)
        for (long j = 0; j < n; ++j)
          s += frame[i * n + j] *
               std::exp(std::complex<double>(0, 2 * std::numbers::pi * double(u * i + v * j) / n));
      EXPECT_NEAR(st.cc[u * n + v], std::max(s.real() / double(n * n), 0.0), 1e-12);
    }

  p.no_template_applies_ifft = false;
  BraggDiskDetector fixed(p, ProbeKernel{}, n, n);
  auto ws2 = fixed.make_workspace();
  const auto cnt = fixed.detect(bytes.data(), Dtype::kU16, *ws2, out, &st);
  ASSERT_TRUE(cnt);
  ASSERT_EQ(*cnt, 2u);
  EXPECT_EQ(out[0].qx, 10);
  EXPECT_EQ(out[0].qy, 12);
  EXPECT_NEAR(out[0].intensity, 50, 1e-9);
  EXPECT_EQ(out[1].qx, 20);
  EXPECT_EQ(out[1].qy, 7);
}

// sigma_dp on integer data smooths in the input dtype, as scipy does: the result equals running
// without sigma_dp on the pattern smoothed by two truncating 1-D passes; float smoothing differs.
TEST(BraggDisksOp, SigmaDpSmoothsInInputDtype) {
  const auto frame = synthetic_frame(21);
  BraggDisksParams p = small_params(Subpixel::kPoly);
  p.precision = Precision::kF64;
  p.sigma_dp = 1.3;
  const auto w = npc::gaussian_weights(1.3);
  const long r = long(w.size()) - 1, n = kN;
  const auto pass = [&](const std::vector<double>& in, bool along_rows) {
    std::vector<double> out(in.size());
    for (long i = 0; i < n; ++i)
      for (long j = 0; j < n; ++j) {
        const auto at = [&](long t) {
          return along_rows ? in[npc::reflect_index(i + t, n) * n + j]
                            : in[i * n + npc::reflect_index(j + t, n)];
        };
        double acc = at(0) * w[0];
        for (long t = r; t >= 1; --t) acc += (at(-t) + at(t)) * w[t];
        out[i * n + j] = std::trunc(acc);
      }
    return out;
  };
  const auto smoothed = pass(pass(frame, true), false);
  const auto run_one = [&](const BraggDisksParams& q, const std::vector<double>& f) {
    BraggDiskDetector det(q, disk_kernel(), n, n);
    auto ws = det.make_workspace();
    std::vector<Peak> out(q.max_num_peaks);
    DetectorStages st;
    const auto b = as_bytes<std::uint16_t>(f);
    EXPECT_TRUE(det.detect(b.data(), Dtype::kU16, *ws, out, &st));
    return st.cc;
  };
  BraggDisksParams q = p;
  q.sigma_dp = 0;
  const auto a = run_one(p, frame);
  const auto b = run_one(q, smoothed);
  double e = 0;
  for (std::size_t i = 0; i < a.size(); ++i) e = std::max(e, std::abs(a[i] - b[i]));
  EXPECT_LE(e, 1e-12);
  p.sigma_dp_in_input_dtype = false;
  const auto c = run_one(p, frame);
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - c[i]));
  EXPECT_GT(d, 1e-6);
}

// More peaks than max_num_peaks: the list is truncated to the brightest, in order.
TEST(BraggDisksOp, MaxNumPeaksTruncates) {
  std::vector<double> all;
  const auto f = synthetic_frame(4);
  BraggDisksParams p = small_params(Subpixel::kPixel);
  p.max_num_peaks = 3;
  BraggDisksOp op("b", p, disk_kernel());
  const SeriesHeader h = header(Dtype::kU16);
  op.start(h);
  auto bytes = as_bytes<std::uint16_t>(f);
  const auto out = run(op, h, bytes);
  ASSERT_EQ(out.peaks[0].size(), 3u);
  EXPECT_GE(out.peaks[0][0].intensity, out.peaks[0][1].intensity);
  EXPECT_GE(out.peaks[0][1].intensity, out.peaks[0][2].intensity);
}

// A non-square, odd-sized frame: the detector finds each disk of a noise-free pattern, and poly and
// multicorr put it within 0.05 px of its true centre (both precisions).
TEST(BraggDisksOp, NonSquareOddFrame) {
  const std::uint32_t rows = 61, cols = 50;
  const double centres[][2] = {{14.3, 12.6}, {30.1, 25.4}, {45.7, 36.2}, {20.5, 38.9}};
  std::vector<double> f(std::size_t{rows} * cols, 0.0);
  for (const auto& c : centres)
    for (std::uint32_t i = 0; i < rows; ++i)
      for (std::uint32_t j = 0; j < cols; ++j)
        f[i * cols + j] +=
            100 * std::exp(-((i - c[0]) * (i - c[0]) + (j - c[1]) * (j - c[1])) / 8.0);
  ProbeKernel delta{rows, cols, std::vector<double>(std::size_t{rows} * cols, 0.0)};
  delta.values[0] = 1.0;
  const auto bytes = as_bytes<float>(f);
  for (Precision prec : {Precision::kF32, Precision::kF64}) {
    for (Subpixel sp : {Subpixel::kPoly, Subpixel::kMulticorr}) {
      BraggDisksParams p;
      p.sigma = 1;
      p.edge_boundary = 3;
      p.min_peak_spacing = 5;
      p.subpixel = sp;
      p.precision = prec;
      BraggDiskDetector det(p, delta, rows, cols);
      auto ws = det.make_workspace();
      std::vector<Peak> out(p.max_num_peaks);
      const auto n = det.detect(bytes.data(), Dtype::kF32, *ws, out);
      ASSERT_TRUE(n);
      ASSERT_EQ(*n, 4u);
      for (const auto& c : centres) {
        double best = 1e9;
        for (std::uint32_t i = 0; i < *n; ++i)
          best = std::min(best, std::hypot(out[i].qx - c[0], out[i].qy - c[1]));
        EXPECT_LT(best, sp == Subpixel::kPoly ? 0.05 : 0.02) << int(sp) << " " << int(prec);
      }
    }
  }
}

// The hybrid correlation for corr_power 0 (phase correlation) and 0.5 equals its definition,
// max(real(ifft2(|m|^p exp(i angle m))), 0) with m = fft2(DP) conj(fft2(T)), computed here by
// direct DFTs in float64 (float64 path to 1e-11, float32 to 2e-5 of the maximum).
TEST(BraggDisksOp, HybridCorrelationMatchesDefinition) {
  const long n = 24;
  const auto frame = synthetic_frame(5, n);
  // A positive kernel: a zero-sum one has a DC term that is zero up to rounding, whose phase (which
  // p = 0 normalises to magnitude 1) is then numerically arbitrary, in numpy as here.
  ProbeKernel k = disk_kernel(n, 2.0);
  for (auto& v : k.values) v += 1.0 / (double(n) * n);
  using cd = std::complex<double>;
  const auto dft = [&](const std::vector<cd>& x, double sign) {
    std::vector<cd> y(x.size());
    for (long u = 0; u < n; ++u)
      for (long v = 0; v < n; ++v) {
        cd acc = 0;
        for (long i = 0; i < n; ++i)
          for (long j = 0; j < n; ++j)
            acc += x[i * n + j] *
                   std::exp(cd(0, sign * 2 * std::numbers::pi * double(u * i + v * j) / n));
        y[u * n + v] = acc;
      }
    return y;
  };
  const auto F = dft(std::vector<cd>(frame.begin(), frame.end()), -1);
  const auto T = dft(std::vector<cd>(k.values.begin(), k.values.end()), -1);
  for (double pw : {0.0, 0.5}) {
    std::vector<cd> c(F.size());
    for (std::size_t i = 0; i < c.size(); ++i) {
      const cd m = F[i] * std::conj(T[i]);
      c[i] = std::pow(std::abs(m), pw) * std::exp(cd(0, std::arg(m)));
    }
    const auto back = dft(c, +1);
    std::vector<double> want(back.size());
    double vmax = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
      want[i] = std::max(back[i].real() / double(n * n), 0.0);
      vmax = std::max(vmax, want[i]);
    }
    for (Precision prec : {Precision::kF64, Precision::kF32}) {
      BraggDisksParams p = small_params(Subpixel::kMulticorr);
      p.corr_power = pw;
      p.precision = prec;
      BraggDiskDetector det(p, k, n, n);
      auto ws = det.make_workspace();
      std::vector<Peak> out(p.max_num_peaks);
      DetectorStages st;
      const auto b = as_bytes<std::uint16_t>(frame);
      ASSERT_TRUE(det.detect(b.data(), Dtype::kU16, *ws, out, &st));
      double e = 0;
      for (std::size_t i = 0; i < want.size(); ++i) e = std::max(e, std::abs(st.cc[i] - want[i]));
      EXPECT_LE(e, (prec == Precision::kF64 ? 1e-11 : 2e-5) * vmax) << "p " << pw;
    }
  }
}
