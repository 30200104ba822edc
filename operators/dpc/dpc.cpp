// SPDX-License-Identifier: GPL-3.0-or-later
#include "operators/dpc/dpc.hpp"

#include <fftw3.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <complex>
#include <limits>
#include <mutex>

#include "operators/bragg_disks/fftw_plan.hpp"
#include "pipeline/core/result_store.hpp"

namespace stemflow::ops {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kPi = 3.14159265358979323846;

//! The CoM rotated by `rad` (transposed: the detector axes swapped first), as py4DSTEM.
void rotate(const std::vector<double>& nx,
            const std::vector<double>& ny,
            double rad,
            bool transpose,
            std::vector<double>& mx,
            std::vector<double>& my) {
  const double c = std::cos(rad), s = std::sin(rad);
  const std::vector<double>& a = transpose ? ny : nx;
  const std::vector<double>& b = transpose ? nx : ny;
  mx.resize(a.size());
  my.resize(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    mx[i] = c * a[i] - s * b[i];
    my[i] = s * a[i] + c * b[i];
  }
}

//! mean |d my / d rx - d mx / d ry| over the interior (undivided centred differences).
double mean_abs_curl(const std::vector<double>& mx,
                     const std::vector<double>& my,
                     std::uint32_t rows,
                     std::uint32_t cols) {
  if (rows < 3 || cols < 3) return 0;
  double sum = 0;
  for (std::uint32_t r = 1; r + 1 < rows; ++r) {
    for (std::uint32_t c = 1; c + 1 < cols; ++c) {
      const double gxy = mx[r * cols + c + 1] - mx[r * cols + c - 1];
      const double gyx = my[(r + 1) * cols + c] - my[(r - 1) * cols + c];
      sum += std::abs(gyx - gxy);
    }
  }
  return sum / (double(rows - 2) * double(cols - 2));
}

//! numpy's fftfreq(n) (d = 1).
double fftfreq(std::size_t i, std::size_t n) {
  const std::size_t half = (n - 1) / 2 + 1;
  return (i < half ? double(i) : double(i) - double(n)) / double(n);
}

//! In-place 2-D complex FFTs of one size (plans made under FFTW's planner lock).
class Fft2 {
 public:
  Fft2(int n0, int n1) : n_(std::size_t(n0) * n1) {
    buf_ = static_cast<fftw_complex*>(fftw_malloc(sizeof(fftw_complex) * n_));
    if (!buf_) throw std::bad_alloc();
    std::lock_guard lk(fft::planner_mutex());
    fwd_ = fftw_plan_dft_2d(n0, n1, buf_, buf_, FFTW_FORWARD, FFTW_ESTIMATE);
    bwd_ = fftw_plan_dft_2d(n0, n1, buf_, buf_, FFTW_BACKWARD, FFTW_ESTIMATE);
  }
  ~Fft2() {
    std::lock_guard lk(fft::planner_mutex());
    fftw_destroy_plan(fwd_);
    fftw_destroy_plan(bwd_);
    fftw_free(buf_);
  }
  Fft2(const Fft2&) = delete;
  Fft2& operator=(const Fft2&) = delete;
  std::complex<double>* data() { return reinterpret_cast<std::complex<double>*>(buf_); }
  void forward() { fftw_execute(fwd_); }
  void backward() { fftw_execute(bwd_); }  // unnormalised

 private:
  std::size_t n_;
  fftw_complex* buf_ = nullptr;
  fftw_plan fwd_ = nullptr, bwd_ = nullptr;
};

}  // namespace

DpcResult solve_dpc(const std::vector<double>& com_x,
                    const std::vector<double>& com_y,
                    std::uint32_t rows,
                    std::uint32_t cols,
                    const DpcParams& p) {
  const std::size_t n = std::size_t(rows) * cols;
  DpcResult out;
  // The CoM minus its fit (the descan), NaN as 0.
  const auto fx = fit_scan_surface(com_x, rows, cols, p.fit);
  const auto fy = fit_scan_surface(com_y, rows, cols, p.fit);
  std::vector<double> nx(n), ny(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double a = p.fit == OriginFit::kNone ? 0.0 : fx[i];
    const double b = p.fit == OriginFit::kNone ? 0.0 : fy[i];
    nx[i] = std::isfinite(com_x[i] - a) ? com_x[i] - a : 0.0;
    ny[i] = std::isfinite(com_y[i] - b) ? com_y[i] - b : 0.0;
  }
  // The rotation (and transpose): least mean |curl|, py4DSTEM's angles in float32 radians.
  std::vector<double> mx, my;
  auto rad_of = [](double deg) {
    return double(static_cast<float>(deg) * static_cast<float>(kPi / 180.0));
  };
  if (p.rotation_deg && p.transpose) {
    out.rotation_deg = *p.rotation_deg;
    out.transpose = *p.transpose;
  } else if (p.rotation_deg) {
    out.rotation_deg = *p.rotation_deg;
    rotate(nx, ny, out.rotation_deg * kPi / 180.0, false, mx, my);
    const double c0 = mean_abs_curl(mx, my, rows, cols);
    rotate(nx, ny, out.rotation_deg * kPi / 180.0, true, mx, my);
    out.transpose = mean_abs_curl(mx, my, rows, cols) < c0;
  } else {
    double best = std::numeric_limits<double>::infinity();
    for (int t = 0; t < 2; ++t) {
      const bool tr = t == 1;
      if (p.transpose && *p.transpose != tr) continue;
      for (int deg = -89; deg < 90; ++deg) {
        rotate(nx, ny, rad_of(deg), tr, mx, my);
        const double curl = mean_abs_curl(mx, my, rows, cols);
        // Strictly less: the first minimum, and the untransposed one on a tie, as py4DSTEM.
        if (curl < best) {
          best = curl;
          out.rotation_deg = deg;
          out.transpose = tr;
        }
      }
    }
  }
  const double rad = p.rotation_deg ? *p.rotation_deg * kPi / 180.0 : rad_of(out.rotation_deg);
  rotate(nx, ny, rad, out.transpose, mx, my);

  // dDPC: the divergence of the rotated CoM.
  out.ddpc.assign(n, kNaN);
  for (std::uint32_t r = 1; r + 1 < rows; ++r) {
    for (std::uint32_t c = 1; c + 1 < cols; ++c) {
      out.ddpc[r * cols + c] = 0.5 * (mx[(r + 1) * cols + c] - mx[(r - 1) * cols + c]) +
                               0.5 * (my[r * cols + c + 1] - my[r * cols + c - 1]);
    }
  }

  // reconstruct(): gradient steps on the padded grid.
  const std::size_t p0 = std::size_t(std::llround(rows * p.padding_factor));
  const std::size_t p1 = std::size_t(std::llround(cols * p.padding_factor));
  const std::size_t np = p0 * p1;
  std::vector<std::complex<double>> kx_op(np), ky_op(np);
  for (std::size_t i = 0; i < p0; ++i) {
    for (std::size_t j = 0; j < p1; ++j) {
      const double kx = fftfreq(i, p0), ky = fftfreq(j, p1);
      const double k2 = kx * kx + ky * ky;
      const double inv = (i == 0 && j == 0) ? 0.0 : 1.0 / k2;
      kx_op[i * p1 + j] = std::complex<double>(0, -0.25 * kx * inv);
      ky_op[i * p1 + j] = std::complex<double>(0, -0.25 * ky * inv);
    }
  }
  double com2 = 0;
  for (std::size_t i = 0; i < n; ++i) com2 += mx[i] * mx[i] + my[i] * my[i];
  com2 /= double(n);
  std::vector<double> phase(np, 0.0), dx(np), dy(np);
  Fft2 fa{int(p0), int(p1)}, fb{int(p0), int(p1)};
  double error = std::numeric_limits<double>::infinity();
  double step = p.step_size;
  for (std::uint32_t it = 0; it < p.max_iter; ++it) {
    if (step < 1e-6) break;
    // Centred differences (periodic on the padded grid) minus the CoM inside the scan, 0 outside.
    double err = 0;
    for (std::size_t i = 0; i < p0; ++i) {
      const std::size_t im = (i + p0 - 1) % p0, ip = (i + 1) % p0;
      for (std::size_t j = 0; j < p1; ++j) {
        const std::size_t jm = (j + p1 - 1) % p1, jp = (j + 1) % p1;
        if (i < rows && j < cols) {
          const double ox = (phase[im * p1 + j] - phase[ip * p1 + j]) / 2 + mx[i * cols + j];
          const double oy = (phase[i * p1 + jm] - phase[i * p1 + jp]) / 2 + my[i * cols + j];
          dx[i * p1 + j] = ox;
          dy[i * p1 + j] = oy;
          err += ox * ox + oy * oy;
        } else {
          dx[i * p1 + j] = dy[i * p1 + j] = 0;
        }
      }
    }
    const double new_error = err / double(n) / com2;
    if (new_error > error) {
      step /= 2;  // py4DSTEM's backtracking keeps the phase and halves the step
      continue;
    }
    error = new_error;
    auto* a = fa.data();
    auto* b = fb.data();
    for (std::size_t k = 0; k < np; ++k) {
      a[k] = dx[k];
      b[k] = dy[k];
    }
    fa.forward();
    fb.forward();
    for (std::size_t k = 0; k < np; ++k) a[k] = a[k] * kx_op[k] + b[k] * ky_op[k];
    fa.backward();
    for (std::size_t k = 0; k < np; ++k) phase[k] += step * a[k].real() / double(np);
  }
  out.phase.resize(n);
  for (std::uint32_t r = 0; r < rows; ++r) {
    for (std::uint32_t c = 0; c < cols; ++c) out.phase[r * cols + c] = phase[r * p1 + c];
  }
  return out;
}

DpcOp::DpcOp(std::string name, DpcParams p) : Operator(std::move(name)), p_(std::move(p)) {}

DpcOp::~DpcOp() { join(); }

void DpcOp::join() const {
  if (worker_.joinable()) worker_.join();
}

std::vector<OperatorInput> DpcOp::inputs() const {
  return {{"com", p_.com_where, p_.com, "center_of_mass"}};
}

void DpcOp::start(const SeriesHeader& series) {
  join();
  series_ = series;
  last_preview_ = {};  // the first preview at once, then every preview_seconds
  busy_ = false;
  ready_.reset();
}

std::vector<SeriesImage> DpcOp::images(const std::vector<double>& qx,
                                       const std::vector<double>& qy,
                                       bool log) const {
  const auto r = solve_dpc(qx, qy, series_.scan_rows, series_.scan_cols, p_);
  if (log) {
    spdlog::info("operator '{}': rotation {} degrees{}, transpose {}",
                 name(),
                 r.rotation_deg,
                 p_.rotation_deg ? " (given)" : " (least curl)",
                 r.transpose ? "yes" : "no");
  }
  return {
      {"phase", series_.scan_rows, series_.scan_cols, r.phase, "px^2", ImageSpace::kReal, false},
      {"ddpc", series_.scan_rows, series_.scan_cols, r.ddpc, "px", ImageSpace::kReal, true}};
}

std::vector<SeriesImage> DpcOp::preview(const ResultStore& store) const {
  std::lock_guard lk(mutex_);
  std::vector<SeriesImage> done;
  if (ready_) {
    done = std::move(*ready_);
    ready_.reset();
  }
  const auto now = std::chrono::steady_clock::now();
  if (!busy_ && std::chrono::duration<double>(now - last_preview_).count() >= p_.preview_seconds) {
    last_preview_ = now;
    const std::size_t c = input_indices()[0];
    join();  // finished (not busy): returns at once
    busy_ = true;
    worker_ = std::thread([this, qx = store.map(c, 0), qy = store.map(c, 1)] {
      std::vector<SeriesImage> images;
      try {
        images = this->images(qx, qy, false);
      } catch (const std::exception& e) {
        spdlog::warn("operator '{}': live phase failed: {}", name(), e.what());
      }
      std::lock_guard lk2(mutex_);
      if (!images.empty()) ready_ = std::move(images);
      busy_ = false;
    });
  }
  return done;
}

std::vector<SeriesImage> DpcOp::conclude(const ResultStore& store) {
  join();
  ready_.reset();
  const std::size_t c = input_indices()[0];
  return images(store.map(c, 0), store.map(c, 1), true);
}

}  // namespace stemflow::ops
