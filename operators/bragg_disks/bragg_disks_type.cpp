// SPDX-License-Identifier: GPL-3.0-or-later
// bragg_disks in the registry: its keys, and its construction from a configured table (the
// parameters, and the probe template from probe_source.hpp).
#include <memory>
#include <string>

#include "operators/bragg_disks/bragg_disks.hpp"
#include "operators/bragg_disks/fftw_plan.hpp"
#include "operators/bragg_disks/probe_source.hpp"
#include "operators/operator_type.hpp"
#include "pipeline/core/expected.hpp"

namespace stemflow::ops {

namespace {

std::vector<config::KeySpec> keys() {
  using config::at_least, config::between, config::positive, config::KeySpec, config::KeyType,
      config::Range;
  return {
      {"corr_power",
       KeyType::kFloat,
       "1.0",
       "",
       "hybrid correlation exponent: 1 cross-correlation, 0 phase correlation (corrPower)",
       {},
       at_least(0)},
      {"sigma",
       KeyType::kFloat,
       "2.0",
       "px",
       "Gaussian sigma on the correlation before maxima; 0 = off (sigma / sigma_cc)",
       {},
       at_least(0)},
      {"sigma_dp",
       KeyType::kFloat,
       "0.0",
       "px",
       "Gaussian sigma on the pattern before the FFT; 0 = off",
       {},
       at_least(0)},
      // 65535 px is beyond any detector's frame; the bound keeps the int conversion exact.
      {"edge_boundary",
       KeyType::kInt,
       "20",
       "px",
       "maxima closer than this to an edge are dropped; < 1 acts as 1 (edgeBoundary)",
       {},
       between(0, 65535)},
      {"min_absolute_intensity",
       KeyType::kFloat,
       "0.0",
       "",
       "drop peaks with correlation intensity below this; 0 = off (minAbsoluteIntensity)",
       {},
       at_least(0)},
      {"min_relative_intensity",
       KeyType::kFloat,
       "0.005",
       "",
       "drop peaks below this fraction of the reference peak; 0 = off (minRelativeIntensity)",
       {},
       at_least(0)},
      {"relative_to_peak",
       KeyType::kInt,
       "0",
       "",
       "index (by intensity) of the reference peak of the relative filter (relativeToPeak)",
       {},
       between(0, 65535)},
      {"min_peak_spacing",
       KeyType::kFloat,
       "60.0",
       "px",
       "a kept peak removes every dimmer peak closer than this (minPeakSpacing)",
       {},
       at_least(0)},
      {"max_num_peaks",
       KeyType::kInt,
       "70",
       "peaks",
       "keep at most this many peaks per frame (maxNumPeaks)",
       {},
       between(1, 65535)},
      {"subpixel",
       KeyType::kString,
       "\"multicorr\"",
       "",
       "refinement; none = pixel",
       {"pixel", "none", "poly", "multicorr"}},
      {"upsample_factor",
       KeyType::kInt,
       "16",
       "",
       "multicorr DFT upsampling factor",
       {},
       between(3, 1024)},
      {"precision",
       KeyType::kString,
       "\"f32\"",
       "",
       "f32 (fast) or f64 (py4DSTEM's own float64: its peak lists to ~1e-12 px)",
       {"f32", "f64"}},
      {"multicorr_method",
       KeyType::kString,
       "\"auto\"",
       "",
       "how the multicorr patch is evaluated (all exact; they differ in cost)",
       {"auto", "fft", "direct"}},
      {"fft_planner",
       KeyType::kString,
       "\"measure\"",
       "",
       "FFTW planning effort: patient is 10-20 % faster per frame but plans for seconds; "
       "estimate times nothing, so results are the same bit for bit in every run and on every "
       "MPI rank (measured plans can differ between processes in the last bits)",
       {"measure", "patient", "estimate"}},
      {"fft_wisdom",
       KeyType::kString,
       "\"auto\"",
       "",
       "FFTW wisdom file kept across runs, so that a second run plans without measuring: auto = "
       "$XDG_CACHE_HOME/stemflow/fftw-wisdom (else ~/.cache/stemflow/fftw-wisdom), none = keep "
       "nothing, or a path; not used with fft_planner = \"estimate\""},
      {"no_template_applies_ifft",
       KeyType::kBool,
       "true",
       "",
       "py4DSTEM compatibility: with template = \"none\" py4DSTEM still takes ifft2 of the pattern "
       "(a bug); false finds maxima of the pattern itself"},
      {"sigma_dp_in_input_dtype",
       KeyType::kBool,
       "true",
       "",
       "py4DSTEM compatibility: scipy smooths an integer pattern in its own dtype (truncating); "
       "false smooths in floating point"},
      {"template",
       KeyType::kString,
       "-",
       "",
       "ready correlation kernel: a frame-shaped .npy, probe centre at pixel (0, 0) wrapping "
       "around "
       "(as py4DSTEM's get_kernel makes it); \"none\" = no template (py4DSTEM template=None)"},
      {"vacuum",
       KeyType::kString,
       "-",
       "",
       "vacuum probe: a 2-D .npy image, or a recorded file of vacuum frames (any replay format) "
       "that is averaged; the template is built as py4DSTEM does (from_vacuum_data, "
       "get_probe_size, get_kernel)"},
      {"vacuum_frames",
       KeyType::kIntArray,
       "-",
       "frames",
       "[first, stop): scan positions (row-major) of vacuum frames, read from 'vacuum' or, for "
       "input.source = \"file\", from the replayed file before the series starts",
       {},
       at_least(0)},
      {"probe_threshold",
       KeyType::kFloat,
       "0.2",
       "",
       "from_vacuum_data: probe mask = pixels above max * threshold",
       {},
       Range{.min = 0, .max = 1, .max_exclusive = true}},
      {"probe_expansion",
       KeyType::kFloat,
       "12.0",
       "px",
       "from_vacuum_data: width of the cos^2 soft edge",
       {},
       positive()},
      {"probe_opening",
       KeyType::kInt,
       "3",
       "",
       "from_vacuum_data: binary opening iterations",
       {},
       between(0, 1000)},
      {"kernel_mode",
       KeyType::kString,
       "\"sigmoid\"",
       "",
       "get_kernel mode",
       {"flat", "gaussian", "sigmoid", "sigmoid_log", "sigmoid_logistic"}},
      {"kernel_origin",
       KeyType::kFloatArray,
       "-",
       "px",
       "[qx0, qy0] probe centre (default: get_probe_size's)"},
      {"kernel_radii",
       KeyType::kFloatArray,
       "-",
       "px",
       "sigmoid modes: [inner, outer] edge radii (default: [alpha, 2 alpha])",
       {},
       at_least(0)},
      {"kernel_sigma",
       KeyType::kFloat,
       "-",
       "",
       "gaussian mode: sigma relative to the probe's (required for gaussian)",
       {},
       positive()},
      {"sigmoid_log_is_logistic",
       KeyType::kBool,
       "false",
       "",
       "py4DSTEM maps sigmoid_log to the sine-squared edge (a bug); true gives the logistic edge"},

  };
}

BuiltOperator build(const config::OperatorConfig& oc, const config::Config& config) {
  const auto& p = oc.params;
  BraggDisksParams bp;
  bp.corr_power = p.get_double("corr_power");
  bp.sigma = p.get_double("sigma");
  bp.sigma_dp = p.get_double("sigma_dp");
  bp.edge_boundary = static_cast<int>(p.get_int("edge_boundary"));
  bp.min_absolute_intensity = p.get_double("min_absolute_intensity");
  bp.min_relative_intensity = p.get_double("min_relative_intensity");
  bp.relative_to_peak = static_cast<int>(p.get_int("relative_to_peak"));
  bp.min_peak_spacing = p.get_double("min_peak_spacing");
  bp.max_num_peaks = static_cast<int>(p.get_int("max_num_peaks"));
  bp.subpixel = *parse_subpixel(p.get_string("subpixel"));
  bp.upsample_factor = static_cast<int>(p.get_int("upsample_factor"));
  bp.precision = *parse_precision(p.get_string("precision"));
  bp.multicorr_method = *parse_multicorr_method(p.get_string("multicorr_method"));
  bp.fft_planner = *parse_fft_planner(p.get_string("fft_planner"));
  bp.fft_wisdom = bp.fft_planner == FftPlanner::kEstimate
                      ? std::string()
                      : fft::wisdom_path(p.get_string("fft_wisdom"));
  bp.no_template_applies_ifft = p.get_bool("no_template_applies_ifft");
  bp.sigma_dp_in_input_dtype = p.get_bool("sigma_dp_in_input_dtype");
  try {
    validate(bp);
  } catch (const ConfigError& e) {
    throw ConfigError(p.where() + ": " + e.what());
  }
  auto src = probe_source(p, config);
  BuiltOperator b;
  if (src.probe) {
    // What the vacuum gave, for the provenance: the template cannot be rebuilt from the keys alone.
    const auto& t = *src.probe;
    b.parameters.emplace_back("probe_alpha", std::to_string(t.alpha));
    b.parameters.emplace_back("probe_qx0", std::to_string(t.qx0));
    b.parameters.emplace_back("probe_qy0", std::to_string(t.qy0));
  }
  b.op = std::make_unique<BraggDisksOp>(oc.name, bp, std::move(src.kernel));
  return b;
}

}  // namespace

OperatorType bragg_disks_type() {
  return {
      .name = BraggDisksOp::kType,
      .description =
          "Bragg disk detection as py4DSTEM 0.14.18's CPU path (DataCube.find_Bragg_disks): "
          "template cross-correlation (hybrid with corr_power), Gaussian smoothing, local maxima, "
          "filters, subpixel refinement. Outputs: BraggVectors <name> (qx = row, qy = column, raw "
          "pixels), <name>_count (peaks per frame), <name>_peaks (live table). The probe template "
          "comes from 'template', 'vacuum' or 'vacuum_frames'.",
      .keys = keys(),
      .build = &build,
  };
}

}  // namespace stemflow::ops
