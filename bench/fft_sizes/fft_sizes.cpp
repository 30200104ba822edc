// SPDX-License-Identifier: GPL-3.0-or-later
// bench/fft_sizes: what a frame side with a large prime factor costs the Bragg operator's FFTs, and
// what the ways around it that keep py4DSTEM's circular correlation exact would give (issue 16
// item 2). The paper's small dataset has 420x422 frames: 422 = 2 x 211, and FFTW transforms 211
// points with Rader's algorithm. Measured, single-threaded, float32 (the operator's default):
//   1. the operator's transform, a 2-D r2c of R x C, under FFTW's estimate, measure and patient
//      plans, beside the same for R x C' with a smooth C' (420x420), for scale;
//   2. its two stages: R real rows of C points, then C/2+1 complex columns of R points;
//   3. the rows by Bluestein's algorithm instead: each row packed into C/2 complex points (even
//      samples real, odd imaginary), a length-C/2 DFT as a convolution with a chirp through FFTs of
//      a smooth M >= C - 1 points, then unpacked into the C/2+1 bins of the real row's DFT. Same
//      result up to rounding (checked against FFTW's rows: the largest difference relative to the
//      largest bin is printed).
//   fft_sizes [R C [SECONDS]]     (default 420 422 1.5)
#include <fftw3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdio>
#include <cstdlib>
#include <numbers>
#include <vector>

namespace {

using cf = std::complex<float>;
double g_seconds = 1.5;

template <class F>
double micros(F&& f) {
  f();  // warm
  const auto t0 = std::chrono::steady_clock::now();
  int n = 0;
  do {
    f();
    ++n;
  } while (std::chrono::steady_clock::now() - t0 < std::chrono::duration<double>(g_seconds));
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / n * 1e6;
}

// The smallest M >= n whose only prime factors are 2, 3, 5 and 7 (FFTW's fast sizes).
int smooth_at_least(int n) {
  for (int m = n;; ++m) {
    int k = m;
    for (int p : {2, 3, 5, 7}) {
      while (k % p == 0) k /= p;
    }
    if (k == 1) return m;
  }
}

void fill(float* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) p[i] = float((i * 7919) % 1000) / 1000.f;
}

}  // namespace

int main(int argc, char** argv) {
  const int R = argc > 2 ? std::atoi(argv[1]) : 420;
  const int C = argc > 2 ? std::atoi(argv[2]) : 422;
  if (argc > 3) g_seconds = std::atof(argv[3]);
  if (R <= 0 || C <= 0 || C % 2 != 0) {
    std::fprintf(stderr, "fft_sizes R C [SECONDS]: C must be even\n");
    return 2;
  }
  const int H = C / 2 + 1;  // bins of a real row
  const int Cs = smooth_at_least(C);
  float* in = fftwf_alloc_real(std::size_t(R) * std::max(C, Cs));
  auto* spec =
      reinterpret_cast<cf*>(fftwf_alloc_complex(std::size_t(R) * (std::max(C, Cs) / 2 + 1)));
  auto* sp = reinterpret_cast<fftwf_complex*>(spec);
  std::printf("fft_sizes: %dx%d float32, one thread, %.1f s per figure\n\n", R, C, g_seconds);
  std::printf("| transform | microseconds per frame |\n|---|---|\n");

  // 1. The 2-D r2c under each planner, and at the smooth size next to it.
  for (auto [name, flags] : {std::pair{"estimate", FFTW_ESTIMATE},
                             std::pair{"measure", FFTW_MEASURE},
                             std::pair{"patient", FFTW_PATIENT}}) {
    const auto t0 = std::chrono::steady_clock::now();
    fftwf_plan p = fftwf_plan_dft_r2c_2d(R, C, in, sp, flags);
    const double plan_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fill(in, std::size_t(R) * C);
    std::printf(
        "| 2-D r2c %dx%d, %s plan (planned in %.2f s) | %.1f |\n", R, C, name, plan_s, micros([&] {
          fftwf_execute(p);
        }));
    fftwf_destroy_plan(p);
  }
  if (Cs != C) {
    fftwf_plan p = fftwf_plan_dft_r2c_2d(R, Cs, in, sp, FFTW_MEASURE);
    fill(in, std::size_t(R) * Cs);
    std::printf("| 2-D r2c %dx%d (smooth, for scale), measure | %.1f |\n", R, Cs, micros([&] {
                  fftwf_execute(p);
                }));
    fftwf_destroy_plan(p);
  }

  // 2. The two stages of the 2-D transform.
  int n = C;
  fftwf_plan rows =
      fftwf_plan_many_dft_r2c(1, &n, R, in, nullptr, 1, C, sp, nullptr, 1, H, FFTW_MEASURE);
  int m = R;
  fftwf_plan cols = fftwf_plan_many_dft(
      1, &m, H, sp, nullptr, H, 1, sp, nullptr, H, 1, FFTW_FORWARD, FFTW_MEASURE);
  fill(in, std::size_t(R) * C);
  std::printf(
      "| rows: %d r2c of %d, FFTW measure | %.1f |\n", R, C, micros([&] { fftwf_execute(rows); }));
  std::printf("| columns: %d c2c of %d, FFTW measure | %.1f |\n", H, R, micros([&] {
                fftwf_execute(cols);
              }));
  fftwf_execute(rows);
  std::vector<cf> ref(spec, spec + std::size_t(R) * H);

  // 3. The rows by Bluestein: N = C/2 complex points per row, convolved through M-point FFTs.
  const int N = C / 2;
  const int M = smooth_at_least(2 * N - 1);
  std::vector<cf> w(N);  // chirp exp(-i pi k^2 / N), k^2 taken mod 2N for accuracy
  for (int k = 0; k < N; ++k) {
    const long long k2 = (static_cast<long long>(k) * k) % (2LL * N);
    const double a = -std::numbers::pi * double(k2) / N;
    w[k] = cf(float(std::cos(a)), float(std::sin(a)));
  }
  auto* buf = reinterpret_cast<cf*>(fftwf_alloc_complex(std::size_t(R) * M));
  auto* bb = reinterpret_cast<cf*>(fftwf_alloc_complex(M));
  std::fill(bb, bb + M, cf{});
  for (int k = 0; k < N; ++k) bb[k] = std::conj(w[k]);
  for (int k = 1; k < N; ++k) bb[M - k] = std::conj(w[k]);
  fftwf_plan pb = fftwf_plan_dft_1d(M,
                                    reinterpret_cast<fftwf_complex*>(bb),
                                    reinterpret_cast<fftwf_complex*>(bb),
                                    FFTW_FORWARD,
                                    FFTW_ESTIMATE);
  fftwf_execute(pb);
  for (int k = 0; k < M; ++k) bb[k] /= float(M);  // the inverse's 1/M folded in
  auto* fb = reinterpret_cast<fftwf_complex*>(buf);
  fftwf_plan fwd = fftwf_plan_many_dft(
      1, &M, R, fb, nullptr, 1, M, fb, nullptr, 1, M, FFTW_FORWARD, FFTW_MEASURE);
  fftwf_plan inv = fftwf_plan_many_dft(
      1, &M, R, fb, nullptr, 1, M, fb, nullptr, 1, M, FFTW_BACKWARD, FFTW_MEASURE);
  std::vector<cf> twiddle(H);  // exp(-2 pi i k / C)
  for (int k = 0; k < H; ++k) {
    const double a = -2 * std::numbers::pi * k / C;
    twiddle[k] = cf(float(std::cos(a)), float(std::sin(a)));
  }
  fill(in, std::size_t(R) * C);
  auto bluestein_rows = [&] {
    for (int r = 0; r < R; ++r) {
      const float* x = in + std::size_t(r) * C;
      cf* a = buf + std::size_t(r) * M;
      for (int k = 0; k < N; ++k) a[k] = cf(x[2 * k], x[2 * k + 1]) * w[k];
      std::fill(a + N, a + M, cf{});
    }
    fftwf_execute(fwd);
    for (int r = 0; r < R; ++r) {
      cf* a = buf + std::size_t(r) * M;
      for (int k = 0; k < M; ++k) a[k] *= bb[k];
    }
    fftwf_execute(inv);
    for (int r = 0; r < R; ++r) {
      cf* a = buf + std::size_t(r) * M;
      for (int k = 0; k < N; ++k) a[k] *= w[k];  // Z, the packed row's N-point DFT
      cf* X = spec + std::size_t(r) * H;
      for (int k = 0; k < H; ++k) {
        const cf z = a[k % N], zc = std::conj(a[(N - k % N) % N]);
        const cf even = 0.5f * (z + zc), odd = cf(0, -0.5f) * (z - zc);
        X[k] = even + twiddle[k] * odd;
      }
    }
  };
  const double t_bl = micros(bluestein_rows);
  double worst = 0, top = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    worst = std::max(worst, double(std::abs(spec[i] - ref[i])));
    top = std::max(top, double(std::abs(ref[i])));
  }
  std::printf("| rows: %d r2c of %d by Bluestein (%d-point FFTs) | %.1f |\n", R, C, M, t_bl);
  std::printf(
      "\nBluestein rows against FFTW's: largest difference %.2e of the largest bin (float32)\n",
      worst / top);
  return 0;
}
