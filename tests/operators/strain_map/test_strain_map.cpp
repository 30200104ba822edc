// SPDX-License-Identifier: GPL-3.0-or-later
// strain_map on synthetic lattices: the fit recovers the lattice exactly, the strain follows
// py4DSTEM's convention, frames with too few peaks give NaN and are counted, stray peaks are not
// used, and the reference region and the live images work through the engine.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "operators/strain_map/strain_map.hpp"
#include "tests/support/physics_engine.hpp"

using namespace stemflow;

namespace {

constexpr std::array<double, 2> kG1{17.92, 2.56}, kG2{-5.12, 16.64};

//! The disks of a lattice (g1, g2) around (x0, y0), |h|, |k| <= 3, the central one brightest.
std::vector<Peak> lattice_peaks(std::array<double, 2> g1,
                                std::array<double, 2> g2,
                                double x0,
                                double y0) {
  std::vector<Peak> p{{x0, y0, 1000.0}};
  for (int h = -3; h <= 3; ++h) {
    for (int k = -3; k <= 3; ++k) {
      if (h == 0 && k == 0) continue;
      const double qx = x0 + h * g1[0] + k * g2[0], qy = y0 + h * g1[1] + k * g2[1];
      if (qx < 0 || qy < 0 || qx > 127 || qy > 127) continue;
      p.push_back({qx, qy, 50.0 + 3 * h - k});
    }
  }
  return p;
}

std::string strain_toml(const std::string& extra = "") {
  return "[[operators]]\ntype = \"strain_map\"\nname = \"strain\"\nbragg = \"bragg\"\n"
         "g1 = [17.92, 2.56]\ng2 = [-5.12, 16.64]\n" +
         extra;
}

}  // namespace

// Spec: an exact lattice is fitted exactly (g1, g2 and the origin, fit error 0), whichever disk
// is brightest (a missing central beam shifts the indices, not the fit).
TEST(StrainMap, FitRecoversAnExactLattice) {
  const std::array<double, 2> g1{18.1, 2.4}, g2{-5.0, 16.9};
  auto peaks = lattice_peaks(g1, g2, 64.3, 63.7);
  auto f = ops::fit_lattice(peaks, kG1, kG2, 2.0, 5);
  ASSERT_TRUE(f.ok);
  EXPECT_NEAR(f.g1x, g1[0], 1e-9);
  EXPECT_NEAR(f.g1y, g1[1], 1e-9);
  EXPECT_NEAR(f.g2x, g2[0], 1e-9);
  EXPECT_NEAR(f.g2y, g2[1], 1e-9);
  EXPECT_NEAR(f.x0, 64.3, 1e-9);
  EXPECT_NEAR(f.y0, 63.7, 1e-9);
  EXPECT_NEAR(f.error, 0.0, 1e-9);
  EXPECT_EQ(f.num_peaks, peaks.size());
  // Edge case: no central beam: the brightest disk is a Bragg disk.
  peaks.erase(peaks.begin());
  peaks[3].intensity = 5000;
  f = ops::fit_lattice(peaks, kG1, kG2, 2.0, 5);
  ASSERT_TRUE(f.ok);
  EXPECT_NEAR(f.g1x, g1[0], 1e-9);
  EXPECT_NEAR(f.g2y, g2[1], 1e-9);
}

// Edge case: a stray peak far from every lattice point is not indexed and does not move the fit;
// fewer than min_peaks indexed peaks, or indices on one line, is no fit.
TEST(StrainMap, StrayPeaksAndTooFewPeaks) {
  auto peaks = lattice_peaks(kG1, kG2, 64, 64);
  const auto n = peaks.size();
  peaks.push_back({64 + 0.5 * kG1[0], 64 + 0.5 * kG1[1], 400.0});  // half way between disks
  auto f = ops::fit_lattice(peaks, kG1, kG2, 2.0, 5);
  ASSERT_TRUE(f.ok);
  EXPECT_EQ(f.num_peaks, n);
  EXPECT_NEAR(f.g1x, kG1[0], 1e-9);
  const std::vector<Peak> four(peaks.begin(), peaks.begin() + 4);
  f = ops::fit_lattice(four, kG1, kG2, 2.0, 5);
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(f.num_peaks, 4u);
  // Five peaks, all on the g1 line: the fit is singular.
  std::vector<Peak> line;
  for (int h = -2; h <= 2; ++h) line.push_back({64 + h * kG1[0], 64 + h * kG1[1], 100.0 - h});
  f = ops::fit_lattice(line, kG1, kG2, 2.0, 5);
  EXPECT_FALSE(f.ok);
  EXPECT_FALSE(ops::fit_lattice({}, kG1, kG2, 2.0, 5).ok);
}

// Spec: py4DSTEM's convention: the reciprocal lattice shrunk by 1 + s (the real lattice expanded
// by s) is e_xx = e_yy = s / (1 + s), no shear or rotation; the reciprocal lattice rotated by phi
// is |theta| = sin(phi) with e_xy = 0 and e_xx = e_yy = 1 - cos(phi).
TEST(StrainMap, StrainConvention) {
  const std::array<double, 4> ref{kG1[0], kG1[1], kG2[0], kG2[1]};
  const double s = 0.01;
  auto e = ops::strain_from_reference(
      {ref[0] / (1 + s), ref[1] / (1 + s), ref[2] / (1 + s), ref[3] / (1 + s)}, ref);
  EXPECT_NEAR(e[0], s / (1 + s), 1e-12);
  EXPECT_NEAR(e[1], s / (1 + s), 1e-12);
  EXPECT_NEAR(e[2], 0, 1e-12);
  EXPECT_NEAR(e[3], 0, 1e-12);
  const double phi = 0.02, c = std::cos(phi), sn = std::sin(phi);
  auto rot = [&](double x, double y) {
    return std::array<double, 2>{c * x - sn * y, sn * x + c * y};
  };
  const auto r1 = rot(ref[0], ref[1]), r2 = rot(ref[2], ref[3]);
  e = ops::strain_from_reference({r1[0], r1[1], r2[0], r2[1]}, ref);
  EXPECT_NEAR(std::abs(e[3]), sn, 1e-12);
  EXPECT_NEAR(e[2], 0, 1e-12);
  EXPECT_NEAR(e[0], 1 - c, 1e-12);
  EXPECT_NEAR(e[1], 1 - c, 1e-12);
}

// Spec: through the engine: the reference region's median lattice is zero strain, frames without
// enough peaks are NaN in every strain map (never a wild value) with their peak count, the
// strain maps are RealSlices, and the live images arrive while the scan runs and end equal to
// the final ones.
TEST(StrainMap, EngineReferenceRegionNaNAndLiveImages) {
  SeriesHeader h;
  h.scan_rows = 6;
  h.scan_cols = 8;
  h.frame_rows = h.frame_cols = 128;
  test::PeakTable peaks(h.scan_size());
  const double s_ref = 0.004, s_other = 0.012;
  for (std::uint32_t rx = 0; rx < h.scan_rows; ++rx) {
    for (std::uint32_t ry = 0; ry < h.scan_cols; ++ry) {
      const double sc = 1 / (1 + (rx < 2 ? s_ref : s_other));
      peaks[rx * h.scan_cols + ry] = lattice_peaks(
          {kG1[0] * sc, kG1[1] * sc}, {kG2[0] * sc, kG2[1] * sc}, 64 + 0.1 * rx, 64 - 0.1 * ry);
    }
  }
  peaks[20].resize(3);  // too few peaks
  peaks[21].clear();    // no disks at all
  std::vector<std::unique_ptr<Operator>> first;
  first.push_back(std::make_unique<test::RecordedBraggOp>("bragg", peaks));
  auto ops =
      test::build_operators(strain_toml("reference_region = [0, 2, 0, 8]\n"), std::move(first));
  const auto c = test::run_engine(std::move(ops), h, nullptr, 4, 1e-9);
  const auto& exx = c.images.at("strain_e_xx");
  EXPECT_EQ(exx.space, ImageSpace::kReal);
  ASSERT_EQ(exx.values.size(), h.scan_size());
  const double want = 1 - (1 + s_ref) / (1 + s_other);  // relative to the region's lattice
  for (std::size_t i = 0; i < h.scan_size(); ++i) {
    if (i == 20 || i == 21) {
      for (const char* m : {"strain_e_xx", "strain_e_yy", "strain_e_xy", "strain_theta"}) {
        EXPECT_TRUE(std::isnan(c.images.at(m).values[i])) << m << " " << i;
      }
      EXPECT_TRUE(std::isnan(c.maps.at("strain_g1x")[i]));
      EXPECT_EQ(c.maps.at("strain_num_peaks")[i], i == 20 ? 3.0 : 0.0);
      continue;
    }
    EXPECT_NEAR(exx.values[i], i < 16 ? 0.0 : want, 1e-9) << i;
    EXPECT_NEAR(c.images.at("strain_e_yy").values[i], i < 16 ? 0.0 : want, 1e-9) << i;
    EXPECT_NEAR(c.images.at("strain_e_xy").values[i], 0.0, 1e-9) << i;
    EXPECT_NEAR(c.maps.at("strain_fit_error")[i], 0.0, 1e-9) << i;
  }
  EXPECT_GT(c.live_updates, 1u);
  ASSERT_TRUE(c.last_live.count("strain_e_xx"));
  const auto& live = c.last_live.at("strain_e_xx").values;
  for (std::size_t i = 0; i < h.scan_size(); ++i) {
    if (std::isnan(exx.values[i])) {
      EXPECT_TRUE(std::isnan(live[i]));
    } else {
      EXPECT_NEAR(live[i], exx.values[i], 1e-12) << i;
    }
  }
}

// Edge case: keys that are wrong together are ConfigErrors naming the key.
TEST(StrainMap, WrongKeysAreConfigErrors) {
  auto error = [](const std::string& toml) -> std::string {
    try {
      (void)test::build_operators(toml);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error("[[operators]]\ntype = \"strain_map\"\nbragg = \"b\"\ng1 = [10.0, 0.0]\n"
                  "g2 = [20.0, 0.0]\n")
                .find("strain_map.g2: g1 and g2 are parallel"),
            std::string::npos);
  EXPECT_NE(error(strain_toml("index_tolerance = 9.5\n")).find("index_tolerance: must be less"),
            std::string::npos);
  EXPECT_NE(error(strain_toml("reference_region = [4, 2, 0, 8]\n")).find("reference_region"),
            std::string::npos);
}

// Edge case: through the real bragg_disks operator (no template: maxima of the smoothed pattern):
// a frame of Gaussian disks on the lattice is fitted; an empty frame and a saturated frame give
// NaN strain and lattice (never a wild value), with their peak counts.
TEST(StrainMap, EmptyAndSaturatedFramesGiveNaN) {
  SeriesHeader h;
  h.scan_rows = 1;
  h.scan_cols = 3;
  h.frame_rows = h.frame_cols = 128;
  std::vector<std::uint16_t> pixels(3 * 128 * 128, 0);
  for (const Peak& p : lattice_peaks(kG1, kG2, 64.2, 63.7)) {
    for (int r = 0; r < 128; ++r) {
      for (int c = 0; c < 128; ++c) {
        const double d2 = (r - p.qx) * (r - p.qx) + (c - p.qy) * (c - p.qy);
        pixels[r * 128 + c] += std::uint16_t(p.intensity * std::exp(-d2 / 8.0));
      }
    }
  }
  std::fill(pixels.begin() + 2 * 128 * 128, pixels.end(), std::uint16_t{65535});
  auto ops = test::build_operators(
      "[[operators]]\ntype = \"bragg_disks\"\nname = \"bragg\"\ntemplate = \"none\"\n"
      "no_template_applies_ifft = false\nmin_peak_spacing = 6.0\nedge_boundary = 2\n" +
      strain_toml());
  const auto c = test::run_engine(std::move(ops), h, &pixels, 3);
  const auto& exx = c.images.at("strain_e_xx").values;
  EXPECT_GT(c.maps.at("strain_num_peaks")[0], 20.0);
  EXPECT_NEAR(exx[0], 0.0, 1e-3);
  for (std::size_t i : {1u, 2u}) {
    EXPECT_TRUE(std::isnan(exx[i])) << i << ": " << exx[i];
    EXPECT_TRUE(std::isnan(c.maps.at("strain_g1x")[i])) << i;
    EXPECT_LT(c.maps.at("strain_num_peaks")[i], 5.0) << i;
  }
}
