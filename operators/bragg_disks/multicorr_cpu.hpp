// SPDX-License-Identifier: GPL-3.0-or-later
// multicorr: py4DSTEM's DFT-upsampling refinement (process/utils/multicorr.py), for all peaks of a
// frame at once.
//
// For each peak py4DSTEM evaluates the n x n patch (n = ceil(1.5 us))
//   P[k, l] = Re sum_{u,v} C[u,v] exp(2 pi i (f_u X_k / Nx + f_v Y_l / Ny)),
//   X_k = (jx0 + k) / us,  Y_l = (jy0 + l) / us   (jx0, jy0 integers)
// with one dense (n x Nx)(Nx x Ny)(Ny x n) complex product per peak. Here the same sum is computed
// exactly (up to rounding), but cheaply:
//   * C is the spectrum of a real signal, so only the Ny/2+1 columns of the r2c half spectrum are
//     used: the other columns are conjugates. The Nyquist row/column and corner of even sizes,
//     which have no conjugate partner in numpy's frequency convention (f = -N/2), are handled
//     explicitly.
//   * The row sums G[j, v] = sum_u C[u,v] exp(2 pi i f_u j / (Nx us)) are, for every integer j at
//     once, one zero-padded inverse FFT of length Nx*us per column. All peaks of a frame share it,
//     so the per-peak work is only the small (n x Ny/2) x (Ny/2 x n) product of the second stage.
//   * With few peaks the per-peak matrix product (kDirect) is cheaper; kAuto picks by cost.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "operators/bragg_disks/bragg_disks_params.hpp"
#include "operators/bragg_disks/fftw_plan.hpp"

namespace stemflow::ops {

//! A peak during detection: float64 like py4DSTEM's structured array (x = row, y = column).
struct PeakRecord {
  double x;
  double y;
  double intensity;
};

template <class Real>
class UpsampledDft {
 public:
  using Complex = typename fft::Api<Real>::Complex;

  //! hermitian: the spectrum is the r2c half spectrum (nx x (ny/2+1)) of a real signal; otherwise a
  //! full nx x ny spectrum without symmetry (py4DSTEM's no-template mode passes the pattern
  //! itself). fftw_flags: the planner rigour of the batched column FFTs (FFTW_MEASURE by default).
  UpsampledDft(std::uint32_t nx,
               std::uint32_t ny,
               int upsample_factor,
               bool hermitian,
               std::uint32_t max_peaks,
               MulticorrMethod method,
               unsigned fftw_flags = FFTW_MEASURE);

  struct Workspace;
  std::unique_ptr<Workspace> make_workspace() const;

  //! Replaces each peak's (x, y) by the multicorr position, as upsampled_correlation does
  //! (intensity untouched; the caller re-sorts). spectrum is row-major with spectrum_cols()
  //! columns.
  void refine(const Complex* spectrum, std::span<PeakRecord> peaks, Workspace& ws) const;

  //! The n x n patch (row-major) py4DSTEM evaluates for a peak at (x, y), after the same roundings
  //! refine() applies; for tests.
  void patch(const Complex* spectrum,
             double x,
             double y,
             std::vector<double>& out,
             Workspace& ws,
             MulticorrMethod method) const;

  int patch_size() const { return n_; }
  std::uint32_t spectrum_cols() const { return ncols_; }
  //! The method kAuto uses for a frame with n_peaks peaks.
  MulticorrMethod method_for(std::size_t n_peaks) const;

 private:
  struct Start {
    double xs, ys;       // start position after both roundings (py4DSTEM's xyShift)
    long long jx0, jy0;  // integer fine-grid index of patch row/column 0
  };
  Start start_of(double x, double y) const;
  void patches(const Complex* spectrum,
               std::span<const Start> starts,
               Real* out,
               Workspace& ws,
               MulticorrMethod method) const;
  void patches_fft(const Complex* spectrum,
                   std::span<const Start> starts,
                   Real* out,
                   Workspace& ws) const;
  void patches_direct(const Complex* spectrum,
                      std::span<const Start> starts,
                      Real* out,
                      Workspace& ws) const;
  void column_phases(long long jy0, std::uint32_t v0, int nb, Real* phr, Real* phi) const;
  void corner_correction(const Complex* spectrum, const Start& s, Real* P, Workspace& ws) const;

  std::uint32_t nx_, ny_;
  int us_;
  bool hermitian_;
  std::uint32_t max_peaks_;
  MulticorrMethod method_;
  unsigned fftw_flags_;
  int n_;                           // patch size ceil(1.5 us)
  int g_;                           // globalShift = fix(ceil(1.5 us) / 2)
  int ld_;                          // patch row stride: n rounded up to whole SIMD vectors
  long long lx_, ly_;               // fine grid lengths nx*us, ny*us
  std::uint32_t ncols_;             // spectrum columns used: ny/2+1 (hermitian) or ny
  int block_;                       // spectrum columns per batched FFT
  int super_;                       // spectrum columns per second-stage pass (a multiple of block_)
  bool nyq_row_, nyq_col_;          // hermitian and even nx / even ny
  std::vector<long long> fx_, fy_;  // integer frequencies of rows / used columns
  std::vector<long long> qx_;       // fx mod lx: where row u lands in the zero-padded column
  std::vector<Real> wcol_;          // column weights: 2 for conjugate pairs, else 1
  std::vector<double> twx_re_, twx_im_;  // exp(2 pi i t / lx), t in [0, lx)
  std::vector<double> twy_re_, twy_im_;  // exp(2 pi i t / ly), t in [0, ly)
  std::vector<Real> om_re_, om_im_;      // exp(2 pi i f_v l / ly): ncols x ld
};

//! Per-thread buffers and the batched column FFT plan of one UpsampledDft.
template <class Real>
struct UpsampledDft<Real>::Workspace {
  fft::Buffer<Complex, Real> z;  // zero-padded spectrum columns: block x lx, column-contiguous
  fft::Buffer<Complex, Real> o;  // their inverse FFTs
  fft::Plan<Real> plan;
  std::vector<Start> starts;
  std::vector<Real> patches;   // max_peaks x n x ld (rows padded to whole vectors)
  std::vector<Real> gre, gim;  // first-stage rows times column phases (see make_workspace)
  std::vector<Real> phr, phi;  // per-column phase of one peak
  std::vector<Real> are, aim;  // kDirect: n x nx row kernel
  std::vector<Real> sre, sim;  // kDirect: planar copy of the spectrum, nx x ncols
  std::vector<double> sx, sy;  // corner term: C sin(pi X_k), sin(pi Y_l)
};

extern template class UpsampledDft<float>;
extern template class UpsampledDft<double>;

}  // namespace stemflow::ops
