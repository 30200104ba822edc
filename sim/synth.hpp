// SPDX-License-Identifier: GPL-3.0-or-later
// The synthetic 4D-STEM scan: the model behind the py4DSTEM reference datasets
// (../shared/reference/README.md, section Generator), rendered frame by frame for the simulator,
// the tests and the benchmarks.
//
// Model, per scan position (rx, ry), with u = rx / (scan_rows - 1) - 1/2 and v = ry / (scan_cols -
// 1)
// - 1/2 (0 for a scan of one row or column), both in [-1/2, 1/2]:
//   origin  o = (Qx/2 + origin_offset.x + origin_drift.x * u,  Qy/2 + origin_offset.y +
//   origin_drift.y * v) strain  E = [[exx, exy], [exy, eyy]], exx = strain_xx_span u, eyy =
//   strain_yy_span v,
//           exy = shear_xy_span (u + v) / 2; rotation theta = rotation_span_deg v;
//           real-space deformation M = Rot(theta) (I + E); reciprocal lattice G = M^-T G0.
//   disks   centre o + h g1 + k g2 for the reflections with |h g1_0 + k g2_0| < qmax (chosen once,
//   on
//           the unstrained lattice G0), plus the central disk (h = k = 0) at o;
//           profile A / (1 + exp(4 (r - R) / w)).
//   amplitude  central: central_counts; Bragg: bragg_counts sf exp(-|g| / bragg_decay) m(u, v),
//   with |g|
//           the strained length, sf a fixed weight drawn uniformly in [sf_min, sf_max] per +-(h, k)
//           pair from the seed, and the thickness modulation m = 1 + thickness_modulation sin(2 pi
//           (thickness_cycles.x u + thickness_cycles.y v)).
//   frame   background_floor + background_counts exp(-|q - o| / background_decay) + sum of disks,
//   then
//           Poisson noise (exact sampler), rounded and clipped to the dtype's range (f32: not
//           clipped).
// With the defaults and a 32 x 32 scan of 128 x 128 frames this reproduces the centres and the
// amplitude model of ../shared/reference/py4dstem-ref-128/ground_truth.csv to rounding error (the
// weights sf and the noise come from our own random numbers, not numpy's).
//
// Lengths are fractions of the frame size: vector components use Qx (= frame_rows) for x (rows) and
// Qy (= frame_cols) for y (columns); scalar lengths (R, w, qmax, decays) use min(Qx, Qy). The
// origin offset and drift are in pixels. Pixel centres are at integer coordinates, x = row, y =
// column.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "pipeline/core/series.hpp"

namespace stemflow::sim {

struct SynthParams {
  std::uint32_t scan_rows = 64;    // Rx
  std::uint32_t scan_cols = 64;    // Ry
  std::uint32_t frame_rows = 128;  // Qx
  std::uint32_t frame_cols = 128;  // Qy
  Dtype dtype = Dtype::kU16;
  std::uint64_t seed = 1;
  //! Probe only: the central disk at the unshifted origin, no background, no Bragg disks, no
  //! strain, no drift (as the reference's vacuum_stack_uint16.raw).
  bool vacuum = false;
  //! false: write the expected counts (rounded for integer dtypes) instead of a Poisson draw.
  bool poisson = true;

  // ---- geometry: fractions of the frame size (see the file comment) ----
  double disk_radius = 0.035;               // R / Q
  double edge_width = 1.0 / 128.0;          // w / Q
  std::array<double, 2> g1 = {0.14, 0.02};  // (x / Qx, y / Qy) at the scan centre
  std::array<double, 2> g2 = {-0.04, 0.13};
  double qmax = 0.44;                                 // reflections with |g| < qmax Q
  std::array<double, 2> origin_offset = {0.3, -0.2};  // px, from (Qx/2, Qy/2)
  std::array<double, 2> origin_drift = {0.8, -0.6};   // px over the scan: x along rx, y along ry

  // ---- scan variation: full spans of the linear ramps over the scan ----
  double strain_xx_span = 0.02;    // exx along rx
  double strain_yy_span = 0.015;   // eyy along ry
  double shear_xy_span = 0.01;     // exy along the diagonal (u + v) / 2
  double rotation_span_deg = 1.0;  // along ry

  // ---- intensities (counts per pixel) ----
  double central_counts = 1200.0;
  double bragg_counts = 250.0;
  double bragg_decay = 0.35;  // / Q
  double thickness_modulation = 0.25;
  std::array<double, 2> thickness_cycles = {0.7, 0.4};  // periods over the scan along rx, ry
  double sf_min = 0.35;
  double sf_max = 1.0;
  double background_counts = 3.0;
  double background_decay = 0.25;  // / Q
  double background_floor = 0.3;

  std::uint64_t scan_size() const { return std::uint64_t{scan_rows} * scan_cols; }
  std::size_t frame_pixels() const { return std::size_t{frame_rows} * frame_cols; }
  std::size_t frame_bytes() const { return frame_pixels() * dtype_size(dtype); }
};

//! One disk of a scan position: reflection (h, k) (0, 0 = central beam), its noise-free centre in
//! pixels (qx = row, qy = column) and its peak amplitude A (counts per pixel).
struct TruthDisk {
  int h;
  int k;
  double qx;
  double qy;
  double amplitude;
};

//! xoshiro256** seeded through splitmix64: small, fast, and good enough for Poisson noise.
class Xoshiro256 {
 public:
  explicit Xoshiro256(std::uint64_t seed);
  std::uint64_t next();
  //! Uniform in [0, 1), 53 bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::array<std::uint64_t, 4> s_;
};

//! An exact Poisson draw: inversion by sequential search for mean < 10, Hoermann's PTRS transformed
//! rejection (as numpy's) above. mean <= 0 (or NaN) gives 0.
std::uint64_t sample_poisson(double mean, Xoshiro256& rng);
//! Poisson draws for many means at once (what render uses): the same exact sampler, restructured so
//! that the common small-mean case vectorises; consumes the generator in another order than one
//! sample_poisson call per value. out.size() must equal means.size().
void sample_poisson(std::span<const double> means, Xoshiro256& rng, std::span<std::uint64_t> out);

class SynthScan {
 public:
  //! Validates the parameters (throws ConfigError) and precomputes the reflection list and weights.
  explicit SynthScan(const SynthParams& params);

  //! Renders scan position `index` (row-major: rx * scan_cols + ry) into `out`, which must be
  //! exactly params().frame_bytes() long; pixels are written in host byte order (little-endian), qy
  //! fastest. Deterministic in (seed, index), const and thread-safe; allocates nothing. A wrong
  //! buffer size or an index >= scan_size() is a programmer error and throws std::invalid_argument
  //! / std::out_of_range.
  void render(std::uint64_t index, std::span<std::byte> out) const;

  //! The noise-free disks of scan position `index`: the central disk first, then the Bragg disks
  //! ordered by (h, k).
  std::vector<TruthDisk> ground_truth(std::uint64_t index) const;

  const SynthParams& params() const { return params_; }
  //! Number of disks per frame (central disk included).
  std::size_t disk_count() const { return reflections_.size(); }

 private:
  struct Reflection {
    int h;
    int k;
    double sf;  // 1 for the central disk
  };
  //! Disks per frame are laid out on the stack; more is a configuration error.
  static constexpr std::size_t kMaxDisks = 1024;

  //! Fills disks[0, disk_count()) for scan position `index`; returns the origin.
  std::array<double, 2> layout(std::uint64_t index, std::span<TruthDisk> disks) const;

  SynthParams params_;
  double q_ = 0;                // min(Qx, Qy): the scale of scalar lengths
  double radius_ = 0;           // R, px
  double width_ = 0;            // w, px
  double cutoff_ = 0;           // disks are evaluated for r < cutoff_
  double bragg_decay_ = 0;      // px
  double bg_decay_ = 0;         // px
  std::array<double, 2> g1_{};  // px, unstrained
  std::array<double, 2> g2_{};
  std::vector<Reflection> reflections_;  // central disk first
};

}  // namespace stemflow::sim
