// SPDX-License-Identifier: GPL-3.0-or-later
// Thin RAII layer over FFTW for float and double. FFTW's planner is not thread-safe; every plan is
// created and destroyed under one process-wide mutex (and the planner is also made thread-safe
// through fftw*_make_planner_thread_safe, for other FFTW users in the process). Executing a plan is
// thread-safe, and each thread owns its plans and buffers.
#pragma once

#include <fftw3.h>

#include <complex>
#include <cstddef>
#include <mutex>
#include <new>
#include <string>
#include <utility>

namespace stemflow::ops::fft {

//! The lock every plan creation and destruction takes; the first call makes FFTW's planner
//! thread-safe.
std::mutex& planner_mutex();

//! Adds the FFTW wisdom (float and double) stored in `path` (as save_wisdom writes it) to the
//! process's, so that later plans of those sizes are found without measuring. False if unreadable.
bool load_wisdom(const std::string& path);
//! Writes the process's FFTW wisdom (float and double) to `path`. False on failure.
bool save_wisdom(const std::string& path);

//! The wisdom file a `fft_wisdom` key names: "auto" = $XDG_CACHE_HOME/stemflow/fftw-wisdom, else
//! $HOME/.cache/stemflow/fftw-wisdom (empty when neither is set); "none" or "" = empty; else
//! itself.
std::string wisdom_path(const std::string& key);
//! Before planning: the wisdom in `path` added to the process's, once per process and path (a
//! missing file is the first run's). Logs what it did; never fails the run.
void load_wisdom_once(const std::string& path);
//! After planning: the process's wisdom written to `path` (its folder made), through a temporary
//! file renamed into place, so that processes saving at once (MPI ranks) never leave a torn file.
void store_wisdom(const std::string& path);

template <class Real>
struct Api;

template <>
struct Api<float> {
  using Complex = fftwf_complex;
  using PlanT = fftwf_plan;
  static void* malloc(std::size_t bytes) { return fftwf_malloc(bytes); }
  static void free(void* p) { fftwf_free(p); }
  static void destroy(PlanT p) { fftwf_destroy_plan(p); }
  static void execute(PlanT p) { fftwf_execute(p); }
  static PlanT r2c_2d(int n0, int n1, float* in, Complex* out, unsigned flags) {
    return fftwf_plan_dft_r2c_2d(n0, n1, in, out, flags);
  }
  static PlanT c2r_2d(int n0, int n1, Complex* in, float* out, unsigned flags) {
    return fftwf_plan_dft_c2r_2d(n0, n1, in, out, flags);
  }
  static PlanT c2c_2d(int n0, int n1, Complex* in, Complex* out, int sign, unsigned flags) {
    return fftwf_plan_dft_2d(n0, n1, in, out, sign, flags);
  }
  static PlanT many_c2c(int n, int howmany, Complex* in, Complex* out, int sign, unsigned flags) {
    return fftwf_plan_many_dft(1, &n, howmany, in, nullptr, 1, n, out, nullptr, 1, n, sign, flags);
  }
};

template <>
struct Api<double> {
  using Complex = fftw_complex;
  using PlanT = fftw_plan;
  static void* malloc(std::size_t bytes) { return fftw_malloc(bytes); }
  static void free(void* p) { fftw_free(p); }
  static void destroy(PlanT p) { fftw_destroy_plan(p); }
  static void execute(PlanT p) { fftw_execute(p); }
  static PlanT r2c_2d(int n0, int n1, double* in, Complex* out, unsigned flags) {
    return fftw_plan_dft_r2c_2d(n0, n1, in, out, flags);
  }
  static PlanT c2r_2d(int n0, int n1, Complex* in, double* out, unsigned flags) {
    return fftw_plan_dft_c2r_2d(n0, n1, in, out, flags);
  }
  static PlanT c2c_2d(int n0, int n1, Complex* in, Complex* out, int sign, unsigned flags) {
    return fftw_plan_dft_2d(n0, n1, in, out, sign, flags);
  }
  static PlanT many_c2c(int n, int howmany, Complex* in, Complex* out, int sign, unsigned flags) {
    return fftw_plan_many_dft(1, &n, howmany, in, nullptr, 1, n, out, nullptr, 1, n, sign, flags);
  }
};

//! An FFTW-aligned array of T (SIMD alignment is what lets FFTW use its vector codelets).
template <class T, class Real>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(std::size_t n) : n_(n) {
    if (n == 0) return;
    p_ = static_cast<T*>(Api<Real>::malloc(n * sizeof(T)));
    if (!p_) throw std::bad_alloc();
  }
  ~Buffer() {
    if (p_) Api<Real>::free(p_);
  }
  Buffer(Buffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      if (p_) Api<Real>::free(p_);
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return n_; }
  T& operator[](std::size_t i) { return p_[i]; }
  const T& operator[](std::size_t i) const { return p_[i]; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

//! An FFTW plan, created and destroyed under planner_mutex().
template <class Real>
class Plan {
 public:
  using PlanT = typename Api<Real>::PlanT;
  Plan() = default;
  //! make() runs under the planner lock and returns the raw plan; a null plan throws bad_alloc.
  template <class MakeFn>
  explicit Plan(MakeFn&& make) {
    std::lock_guard<std::mutex> lock(planner_mutex());
    p_ = make();
    if (!p_) throw std::bad_alloc();
  }
  ~Plan() { reset(); }
  Plan(Plan&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Plan& operator=(Plan&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  void execute() const { Api<Real>::execute(p_); }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  void reset() {
    if (p_) {
      std::lock_guard<std::mutex> lock(planner_mutex());
      Api<Real>::destroy(p_);
      p_ = nullptr;
    }
  }
  PlanT p_ = nullptr;
};

}  // namespace stemflow::ops::fft
