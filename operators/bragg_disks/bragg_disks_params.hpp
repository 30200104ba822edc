// SPDX-License-Identifier: GPL-3.0-or-later
// Parameters of the Bragg disk detector. Names and defaults follow py4DSTEM 0.14.18's public
// DataCube.find_Bragg_disks (camelCase there, snake_case here); the py4DSTEM-compatibility switches
// default to py4DSTEM's behaviour, including its bugs (see operators/bragg_disks/README.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stemflow::ops {

//! How the pixel-level maxima are refined.
enum class Subpixel : std::uint8_t {
  kPixel,      // integer positions (py4DSTEM 'pixel'; stemflow also accepts 'none')
  kPoly,       // 3-point parabola in each axis on the smoothed correlation
  kMulticorr,  // poly, then DFT upsampling of the unsmoothed hybrid spectrum
};

//! Floating-point type of the per-frame arithmetic.
enum class Precision : std::uint8_t {
  kF32,  // FFTW single precision: the fast default
  kF64,  // FFTW double precision: matches py4DSTEM (which computes in float64) to ~1e-9 px
};

//! How thoroughly FFTW plans (once per thread and series). Plans found once are kept in FFTW's
//! wisdom for the process (and in a wisdom file, see fft::load_wisdom / fft::save_wisdom).
enum class FftPlanner : std::uint8_t {
  kMeasure,  // FFTW_MEASURE: ~0.1-0.5 s at start
  kPatient,  // FFTW_PATIENT: ~10-20 % faster transforms, ~1-6 s (single) / more (double) at start
  // FFTW_ESTIMATE: no timing, so the same plans (and results, bit for bit) in every run and every
  // process of an MPI job; measured plans can differ between processes and round differently.
  kEstimate,
};

//! How multicorr evaluates the upsampled DFT patch (both are exact; they differ in cost only).
enum class MulticorrMethod : std::uint8_t {
  kAuto,    // picks the cheaper of the two for the number of peaks in the frame
  kFft,     // one zero-padded 1-D FFT per spectrum column, shared by all peaks of the frame
  kDirect,  // a matrix-product DFT per peak, like py4DSTEM (cheaper for a few peaks)
};

struct BraggDisksParams {
  double corr_power = 1.0;  // hybrid correlation exponent: 1 cross-, 0 phase correlation
  double sigma = 2.0;       // Gaussian sigma on the correlation (py4DSTEM sigma / sigma_cc)
  double sigma_dp = 0.0;    // Gaussian sigma on the pattern before the FFT (0: off)
  int edge_boundary = 20;   // maxima closer than this to an edge are dropped (min 1)
  double min_absolute_intensity = 0;      // drop peaks below this correlation intensity (0: off)
  double min_relative_intensity = 0.005;  // drop peaks below this fraction of the reference peak
  int relative_to_peak = 0;               // index (by intensity) of the reference peak
  double min_peak_spacing = 60;           // greedy suppression radius, pixels (strict <)
  int max_num_peaks = 70;                 // keep at most this many peaks per frame
  Subpixel subpixel = Subpixel::kMulticorr;
  int upsample_factor = 16;  // multicorr DFT upsampling factor, > 2
  Precision precision = Precision::kF32;
  MulticorrMethod multicorr_method = MulticorrMethod::kAuto;
  FftPlanner fft_planner = FftPlanner::kMeasure;
  //! FFTW wisdom file kept across runs (empty: none): loaded before planning, so that a second run
  //! (or another MPI rank on the same file system) finds its plans without measuring, and saved
  //! after. Never used with kEstimate, whose plans would follow the measured wisdom.
  std::string fft_wisdom;

  // py4DSTEM compatibility switches; true = what py4DSTEM 0.14.18 does.
  //! Without a template py4DSTEM still applies ifft2 to the pattern (it finds maxima of the
  //! pattern's DFT); false correlates with a delta instead, i.e. finds the maxima of the pattern
  //! itself.
  bool no_template_applies_ifft = true;
  //! scipy smooths an integer pattern into its own dtype (each 1-D pass truncated to an integer);
  //! false smooths in floating point.
  bool sigma_dp_in_input_dtype = true;
};

//! Throws ConfigError naming the first invalid field.
void validate(const BraggDisksParams& p);

//! "pixel" | "none" | "poly" | "multicorr"
std::optional<Subpixel> parse_subpixel(std::string_view s);
//! "f32" | "float32" | "f64" | "float64"
std::optional<Precision> parse_precision(std::string_view s);
//! "auto" | "fft" | "direct"
std::optional<MulticorrMethod> parse_multicorr_method(std::string_view s);
//! "measure" | "patient"
std::optional<FftPlanner> parse_fft_planner(std::string_view s);
std::string_view subpixel_name(Subpixel s);
std::string_view precision_name(Precision p);

}  // namespace stemflow::ops
