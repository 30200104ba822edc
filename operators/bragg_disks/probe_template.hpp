// SPDX-License-Identifier: GPL-3.0-or-later
// The correlation template (probe kernel) as py4DSTEM 0.14.18 builds it:
//   vacuum frames --mean--> Probe.from_vacuum_data(threshold, expansion, opening)
//   --> get_probe_size (alpha, qx0, qy0) --> Probe.get_kernel(mode, origin, ...)
// The result is a real-space kernel with the probe centre shifted to pixel (0, 0), wrapping around,
// which is what BraggDisksOp correlates with. Run once per session, at start-up; throws
// ConfigError.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "pipeline/core/series.hpp"

namespace stemflow::ops {

//! A real-space correlation kernel, row-major rows x cols, centre at (0, 0). Empty = no template.
struct ProbeKernel {
  std::uint32_t rows = 0;
  std::uint32_t cols = 0;
  std::vector<double> values;

  bool empty() const { return values.empty(); }
};

enum class KernelMode : std::uint8_t {
  kFlat,             // probe / sum(probe), shifted to the corner (Fourier shift by default)
  kGaussian,         // normalised probe minus a normalised Gaussian (sums to 0)
  kSigmoid,          // normalised probe minus a normalised sine-squared annular edge (sums to 0)
  kSigmoidLog,       // py4DSTEM's 'sigmoid_log': by a py4DSTEM bug the sine-squared edge too
  kSigmoidLogistic,  // the logistic edge py4DSTEM's get_probe_kernel_edge_sigmoid(type='logistic')
                     // makes
};

struct ProbeParams {
  // Probe.from_vacuum_data
  double threshold = 0.2;  // probe mask: pixels > max * threshold
  int opening = 3;         // binary opening iterations (cross structure) removing stray pixels
  double expansion = 12;   // cos^2 soft-edge width beyond the mask, pixels
  // get_probe_size
  double size_thresh_lower = 0.01;
  double size_thresh_upper = 0.99;
  int size_thresh_count = 100;
  // Probe.get_kernel
  KernelMode mode = KernelMode::kSigmoid;
  std::optional<std::array<double, 2>> origin;  // (qx0, qy0); default: get_probe_size's
  std::optional<std::array<double, 2>> radii;   // sigmoid (ri, ro); default (alpha, 2 alpha)
  std::optional<double> gaussian_sigma;         // required for kGaussian (relative to probe std)
  //! Shift to the corner by bilinear resampling instead of the Fourier shift theorem. Default as
  //! py4DSTEM: Fourier for flat, bilinear for gaussian and the sigmoids.
  std::optional<bool> bilinear;
  //! py4DSTEM maps mode 'sigmoid_log' to the sine-squared edge (a bug); true gives the logistic
  //! edge.
  bool sigmoid_log_is_logistic = false;
};

struct ProbeSize {
  double alpha = 0;  // probe (central disk) radius, pixels
  double qx0 = 0;    // centre, row coordinate
  double qy0 = 0;    // centre, column coordinate
};

struct ProbeTemplate {
  ProbeKernel kernel;         // the corner-centred correlation kernel
  std::vector<double> probe;  // the masked vacuum probe (py4DSTEM Probe.probe), rows x cols
  double alpha = 0;
  double qx0 = 0;
  double qy0 = 0;
  std::array<double, 2> radii{};  // the sigmoid radii used (0, 0 for other modes)
};

//! Throws ConfigError naming the first invalid field.
void validate(const ProbeParams& p);

//! "flat" | "gaussian" | "sigmoid" | "sigmoid_log" | "sigmoid_logistic"
std::optional<KernelMode> parse_kernel_mode(std::string_view s);

//! The mean of n_frames frames of the given dtype (np.average over axis 0), as float64.
std::vector<double> average_frames(const std::byte* frames,
                                   Dtype dtype,
                                   std::size_t n_frames,
                                   std::uint32_t rows,
                                   std::uint32_t cols);

//! Probe.from_vacuum_data on an already averaged image: threshold, opening, dilation, cos^2 edge.
std::vector<double> probe_from_vacuum(const std::vector<double>& vacuum_mean,
                                      std::uint32_t rows,
                                      std::uint32_t cols,
                                      double threshold,
                                      double expansion,
                                      int opening);

//! py4DSTEM get_probe_size: radius from the area above a range of thresholds, centre of mass.
ProbeSize get_probe_size(const std::vector<double>& dp,
                         std::uint32_t rows,
                         std::uint32_t cols,
                         double thresh_lower = 0.01,
                         double thresh_upper = 0.99,
                         int n = 100);

//! Probe.get_kernel on a probe image with a known origin (qx0, qy0).
ProbeKernel make_probe_kernel(const std::vector<double>& probe,
                              std::uint32_t rows,
                              std::uint32_t cols,
                              const ProbeParams& p,
                              double qx0,
                              double qy0,
                              std::array<double, 2>* radii_used = nullptr);

//! The whole recipe: from_vacuum_data -> get_probe_size -> get_kernel. vacuum_mean is rows x cols.
ProbeTemplate build_probe_template(const ProbeParams& p,
                                   const std::vector<double>& vacuum_mean,
                                   std::uint32_t rows,
                                   std::uint32_t cols);

}  // namespace stemflow::ops
