// SPDX-License-Identifier: GPL-3.0-or-later
// Spec: the multicorr patch (both the batched-FFT and the direct formulation) equals py4DSTEM's
// dense dftUpsample product, real(rowKern @ conj(C) @ colKern), for even and odd sizes and
// upsampling factors, Hermitian (real-signal) and general spectra.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <numbers>
#include <random>

#include "operators/bragg_disks/fftw_plan.hpp"
#include "operators/bragg_disks/multicorr_cpu.hpp"

using namespace stemflow;
using namespace stemflow::ops;
using cd = std::complex<double>;

namespace {

long long freq(long long k, long long n) { return k < (n + 1) / 2 ? k : k - n; }

// py4DSTEM upsampled_correlation's patch, written as its matrix formula with the full spectrum C.
std::vector<double> dense_patch(
    const std::vector<cd>& C, int nx, int ny, int us, double x, double y) {
  x = std::nearbyint(x * 2) / 2;
  y = std::nearbyint(y * 2) / 2;
  x = std::nearbyint(x * us) / us;
  y = std::nearbyint(y * us) / us;
  const int n = int(std::ceil(1.5 * us));
  const double g = std::trunc(std::ceil(us * 1.5) / 2);
  const double c0 = g - us * x, c1 = g - us * y;
  const double tp = 2 * std::numbers::pi;
  std::vector<cd> row(std::size_t(n) * nx), col(std::size_t(ny) * n);
  for (int k = 0; k < n; ++k)
    for (int u = 0; u < nx; ++u)
      row[std::size_t(k) * nx + u] =
          std::exp(cd(0, -tp / (nx * us) * (k - c0) * double(freq(u, nx))));
  for (int v = 0; v < ny; ++v)
    for (int l = 0; l < n; ++l)
      col[std::size_t(v) * n + l] =
          std::exp(cd(0, -tp / (ny * us) * double(freq(v, ny)) * (l - c1)));
  std::vector<cd> tmp(std::size_t(n) * ny, 0.0);
  for (int k = 0; k < n; ++k)
    for (int u = 0; u < nx; ++u)
      for (int v = 0; v < ny; ++v)
        tmp[std::size_t(k) * ny + v] +=
            row[std::size_t(k) * nx + u] * std::conj(C[std::size_t(u) * ny + v]);
  std::vector<double> P(std::size_t(n) * n);
  for (int k = 0; k < n; ++k)
    for (int l = 0; l < n; ++l) {
      cd s = 0;
      for (int v = 0; v < ny; ++v) s += tmp[std::size_t(k) * ny + v] * col[std::size_t(v) * n + l];
      P[std::size_t(k) * n + l] = s.real();  // py4DSTEM: conj(real(...)) = real(...)
    }
  return P;
}

struct Spectra {
  std::vector<cd> full;      // nx x ny
  std::vector<double> half;  // nx x (ny/2+1), interleaved complex (FFTW r2c layout)
};

// The spectrum of a random real signal with a bright peak, full (for the dense formula) and half.
Spectra real_signal_spectra(int nx, int ny, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0, 1);
  std::vector<double> x(std::size_t(nx) * ny);
  for (int i = 0; i < nx; ++i)
    for (int j = 0; j < ny; ++j)
      x[std::size_t(i) * ny + j] =
          noise(rng) + 40 * std::exp(-((i - 7.3) * (i - 7.3) + (j - 9.6) * (j - 9.6)) / 6.0);
  Spectra s;
  s.full.resize(x.size());
  const int h = ny / 2 + 1;
  s.half.resize(std::size_t(nx) * h * 2);
  const double tp = 2 * std::numbers::pi;
  for (int u = 0; u < nx; ++u)
    for (int v = 0; v < ny; ++v) {
      cd acc = 0;
      for (int i = 0; i < nx; ++i)
        for (int j = 0; j < ny; ++j)
          acc += x[std::size_t(i) * ny + j] *
                 std::exp(cd(0, -tp * (double(u) * i / nx + double(v) * j / ny)));
      s.full[std::size_t(u) * ny + v] = acc;
      if (v < h) {
        s.half[2 * (std::size_t(u) * h + v)] = acc.real();
        s.half[2 * (std::size_t(u) * h + v) + 1] = acc.imag();
      }
    }
  return s;
}

template <class Real>
std::vector<Real> as_real(const std::vector<double>& v) {
  return std::vector<Real>(v.begin(), v.end());
}

template <class Real>
double max_rel_error(int nx,
                     int ny,
                     int us,
                     bool hermitian,
                     const Spectra& s,
                     double x,
                     double y,
                     MulticorrMethod m) {
  UpsampledDft<Real> dft(nx, ny, us, hermitian, 4, m);
  auto ws = dft.make_workspace();
  std::vector<double> got;
  std::vector<Real> spec;
  if (hermitian) {
    spec = as_real<Real>(s.half);
  } else {
    for (const cd& c : s.full) {
      spec.push_back(Real(c.real()));
      spec.push_back(Real(c.imag()));
    }
  }
  dft.patch(reinterpret_cast<const typename UpsampledDft<Real>::Complex*>(spec.data()),
            x,
            y,
            got,
            *ws,
            m);
  const auto want = dense_patch(s.full, nx, ny, us, x, y);
  EXPECT_EQ(got.size(), want.size());
  double scale = 0, err = 0;
  for (double w : want) scale = std::max(scale, std::abs(w));
  for (std::size_t i = 0; i < want.size(); ++i) err = std::max(err, std::abs(got[i] - want[i]));
  return err / scale;
}

struct Case {
  int nx, ny, us;
};
// Even and odd sizes, even and odd factors, and factors whose patch rows are not a whole number of
// SIMD vectors (us 33 / 100: the generic accumulation path).
constexpr Case kCases[] = {
    {24, 20, 16}, {21, 18, 16}, {20, 17, 5}, {19, 23, 3}, {16, 16, 4}, {18, 16, 33}, {12, 10, 100}};
constexpr double kStarts[][2] = {{7.3, 9.6}, {0.2, 19.7}, {12.25, 3.75}};

}  // namespace

// Real-signal (Hermitian) spectra: the half-spectrum FFT and direct formulations equal the dense
// full-spectrum product to 1e-12 in float64 and 1e-5 in float32, including odd sizes, odd
// upsampling factors and patches that wrap around the frame edge.
TEST(Multicorr, HermitianPatchEqualsDenseProduct) {
  for (const Case& c : kCases) {
    const Spectra s = real_signal_spectra(c.nx, c.ny, 17u + c.nx);
    for (const auto& st : kStarts) {
      for (MulticorrMethod m : {MulticorrMethod::kFft, MulticorrMethod::kDirect}) {
        const double e64 = max_rel_error<double>(c.nx, c.ny, c.us, true, s, st[0], st[1], m);
        const double e32 = max_rel_error<float>(c.nx, c.ny, c.us, true, s, st[0], st[1], m);
        EXPECT_LE(e64, 1e-12) << c.nx << "x" << c.ny << " us " << c.us << " method " << int(m);
        EXPECT_LE(e32, 1e-5) << c.nx << "x" << c.ny << " us " << c.us << " method " << int(m);
      }
    }
  }
}

// General (non-Hermitian) spectra, as py4DSTEM's no-template mode passes: all columns are used and
// the result still equals the dense product.
TEST(Multicorr, GeneralSpectrumEqualsDenseProduct) {
  std::mt19937 rng(5);
  std::normal_distribution<double> nd(0, 1);
  for (const Case& c : {Case{16, 14, 16}, Case{15, 13, 5}}) {
    Spectra s;
    s.full.resize(std::size_t(c.nx) * c.ny);
    for (auto& v : s.full) v = cd(nd(rng), nd(rng));
    for (MulticorrMethod m : {MulticorrMethod::kFft, MulticorrMethod::kDirect}) {
      EXPECT_LE(max_rel_error<double>(c.nx, c.ny, c.us, false, s, 5.5, 6.0, m), 1e-12);
    }
  }
}

// refine() on the spectrum of a sampled, band-limited peak recovers its sub-pixel centre.
TEST(Multicorr, RefineFindsSubpixelCentre) {
  const int n = 64;
  const double x0 = 30.37, y0 = 25.81;
  std::vector<double> x(n * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      x[i * n + j] = std::exp(-((i - x0) * (i - x0) + (j - y0) * (j - y0)) / (2 * 2.5 * 2.5));
  using Api = fft::Api<double>;
  fft::Buffer<double, double> in(n * n);
  fft::Buffer<fftw_complex, double> sp(n * (n / 2 + 1));
  fft::Plan<double> plan([&] { return Api::r2c_2d(n, n, in.data(), sp.data(), FFTW_ESTIMATE); });
  std::copy(x.begin(), x.end(), in.data());
  plan.execute();
  UpsampledDft<double> dft(n, n, 16, true, 2, MulticorrMethod::kAuto);
  auto ws = dft.make_workspace();
  PeakRecord pk{30.4, 25.9, 1.0};  // a poly-level estimate
  dft.refine(sp.data(), std::span<PeakRecord>(&pk, 1), *ws);
  EXPECT_NEAR(pk.x, x0, 2e-3);
  EXPECT_NEAR(pk.y, y0, 2e-3);
  EXPECT_EQ(pk.intensity, 1.0);  // multicorr keeps the poly intensity
}

// The automatic choice takes the direct product for a few peaks and the shared FFTs for many.
TEST(Multicorr, AutoMethodDependsOnPeakCount) {
  UpsampledDft<float> dft(256, 256, 16, true, 70, MulticorrMethod::kAuto);
  EXPECT_EQ(dft.method_for(1), MulticorrMethod::kDirect);
  EXPECT_EQ(dft.method_for(70), MulticorrMethod::kFft);
}
