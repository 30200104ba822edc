// SPDX-License-Identifier: GPL-3.0-or-later
// BraggDisksOp: parameter validation and the wiring of the CPU detector into the operator contract.
#include "operators/bragg_disks/bragg_disks.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <cmath>
#include <limits>
#include <string>

#include "operators/bragg_disks/fftw_plan.hpp"

namespace stemflow::ops {
namespace {

void require(bool ok, std::string_view field, std::string_view what) {
  if (!ok) {
    throw ConfigError("bragg_disks." + std::string(field) + " " + std::string(what));
  }
}

// Bounds the multicorr work buffers (two columns of nx * upsample complex values per FFT block).
constexpr int kMaxUpsampleFactor = 1024;

}  // namespace

void validate(const BraggDisksParams& p) {
  require(std::isfinite(p.corr_power) && p.corr_power >= 0,
          "corr_power",
          "must be a finite number >= 0 (1 = cross correlation, 0 = phase correlation)");
  require(std::isfinite(p.sigma) && p.sigma >= 0, "sigma", "must be >= 0 (0 disables smoothing)");
  require(std::isfinite(p.sigma_dp) && p.sigma_dp >= 0,
          "sigma_dp",
          "must be >= 0 (0 disables smoothing)");
  require(p.edge_boundary >= 0, "edge_boundary", "must be >= 0 (values below 1 act as 1)");
  require(std::isfinite(p.min_absolute_intensity) && p.min_absolute_intensity >= 0,
          "min_absolute_intensity",
          "must be >= 0");
  require(std::isfinite(p.min_relative_intensity) && p.min_relative_intensity >= 0,
          "min_relative_intensity",
          "must be >= 0");
  require(p.relative_to_peak >= 0, "relative_to_peak", "must be >= 0");
  require(std::isfinite(p.min_peak_spacing) && p.min_peak_spacing >= 0,
          "min_peak_spacing",
          "must be >= 0");
  require(p.max_num_peaks >= 1, "max_num_peaks", "must be >= 1");
  require(p.upsample_factor > 2, "upsample_factor", "must be > 2 (py4DSTEM asserts this)");
  require(p.upsample_factor <= kMaxUpsampleFactor,
          "upsample_factor",
          "must be <= " + std::to_string(kMaxUpsampleFactor));
}

std::optional<Subpixel> parse_subpixel(std::string_view s) {
  if (s == "pixel" || s == "none") return Subpixel::kPixel;
  if (s == "poly") return Subpixel::kPoly;
  if (s == "multicorr") return Subpixel::kMulticorr;
  return std::nullopt;
}

std::optional<Precision> parse_precision(std::string_view s) {
  if (s == "f32" || s == "float32") return Precision::kF32;
  if (s == "f64" || s == "float64") return Precision::kF64;
  return std::nullopt;
}

std::optional<MulticorrMethod> parse_multicorr_method(std::string_view s) {
  if (s == "auto") return MulticorrMethod::kAuto;
  if (s == "fft") return MulticorrMethod::kFft;
  if (s == "direct") return MulticorrMethod::kDirect;
  return std::nullopt;
}

std::optional<FftPlanner> parse_fft_planner(std::string_view s) {
  if (s == "measure") return FftPlanner::kMeasure;
  if (s == "patient") return FftPlanner::kPatient;
  if (s == "estimate") return FftPlanner::kEstimate;
  return std::nullopt;
}

std::string_view subpixel_name(Subpixel s) {
  switch (s) {
    case Subpixel::kPixel:
      return "pixel";
    case Subpixel::kPoly:
      return "poly";
    case Subpixel::kMulticorr:
      return "multicorr";
  }
  return "?";
}

std::string_view precision_name(Precision p) { return p == Precision::kF64 ? "f64" : "f32"; }

BraggDisksOp::BraggDisksOp(std::string name, BraggDisksParams params, ProbeKernel kernel)
    : Operator(std::move(name)), params_(params), kernel_(std::move(kernel)) {
  validate(params_);
  if (!kernel_.empty()) {
    require(kernel_.values.size() == std::size_t{kernel_.rows} * kernel_.cols,
            "template",
            "has " + std::to_string(kernel_.values.size()) + " values, expected rows x cols = " +
                std::to_string(std::size_t{kernel_.rows} * kernel_.cols));
    for (double v : kernel_.values) require(std::isfinite(v), "template", "contains NaN or inf");
  }
}

void BraggDisksOp::start(const SeriesHeader& series) {
  // The detector checks the template shape against the frames (ConfigError) and builds the template
  // spectrum and tables once; workspaces from a previous series no longer fit and are dropped.
  workspaces_.clear();
  detector_.reset();
  fft::load_wisdom_once(params_.fft_wisdom);
  detector_ =
      std::make_unique<BraggDiskDetector>(params_, kernel_, series.frame_rows, series.frame_cols);
  dtype_ = series.dtype;
  failed_.store(0, std::memory_order_relaxed);
  // Plan this thread's FFTs now: FFTW's measured plans land in its wisdom, so the workers' own
  // plans on their first frame are cheap.
  workspaces_.local() = detector_->make_workspace();
  fft::store_wisdom(params_.fft_wisdom);
}

OutputSpec BraggDisksOp::outputs() const {
  OutputSpec s;
  s.scalars.push_back(ScalarOutput{"count", "peaks"});
  s.max_peaks = static_cast<std::uint32_t>(params_.max_num_peaks);
  return s;
}

void BraggDisksOp::process(const FrameBatch& batch, OperatorResults& out) const {
  const BraggDiskDetector* det = detector_.get();
  const auto fail = [&](std::uint32_t i) {
    out.failed[i] = 1;
    if (!out.peak_counts.empty()) out.peak_counts[i] = 0;
    if (out.scalars_per_frame > 0) {
      out.frame_scalars(i)[0] = std::numeric_limits<double>::quiet_NaN();
    }
    failed_.fetch_add(1, std::memory_order_relaxed);
  };
  if (det == nullptr) {  // process() before start(): a programming error, but never throw here
    for (std::uint32_t i = 0; i < batch.count; ++i) fail(i);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<std::uint32_t>(0, batch.count, 1),
                    [&](const tbb::blocked_range<std::uint32_t>& range) {
                      auto& ws = workspaces_.local();
                      for (std::uint32_t i = range.begin(); i != range.end(); ++i) {
                        try {
                          if (!ws) ws = det->make_workspace();
                          auto n =
                              det->detect(batch.frame_data(i), dtype_, *ws, out.frame_peaks(i));
                          if (!n) {
                            fail(i);
                            continue;
                          }
                          out.failed[i] = 0;
                          out.peak_counts[i] = *n;
                          if (out.scalars_per_frame > 0) out.frame_scalars(i)[0] = double(*n);
                        } catch (...) {  // e.g. bad_alloc creating a workspace: the frame fails
                          fail(i);
                        }
                      }
                    });
}

}  // namespace stemflow::ops
