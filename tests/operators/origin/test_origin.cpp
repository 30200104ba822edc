// SPDX-License-Identifier: GPL-3.0-or-later
// origin: the brightest peak (optionally near the expected centre), NaN without peaks, and
// fit_origin's surfaces. The comparison with py4DSTEM on the reference data is in
// tests/operators/strain_map/test_strain_reference.cpp (one workflow).
#include <gtest/gtest.h>

#include <cmath>

#include "operators/origin/origin.hpp"
#include "tests/support/physics_engine.hpp"

using namespace stemflow;

// Spec: the brightest peak, or the brightest within search_radius of center; a frame without
// peaks (or none near the centre) gives NaN, never a guess; the plane fit leaves NaN out.
TEST(Origin, BrightestPeakNearTheCentreAndNaNWithoutPeaks) {
  SeriesHeader h;
  h.scan_rows = 2;
  h.scan_cols = 3;
  h.frame_rows = h.frame_cols = 64;
  test::PeakTable peaks(h.scan_size());
  for (std::size_t i = 0; i < h.scan_size(); ++i) {
    peaks[i] = {{31.5 + 0.1 * i, 32.25, 100.0}, {5.0, 5.0, 500.0}, {40.0, 30.0, 80.0}};
  }
  peaks[4].clear();
  peaks[5] = {{5.0, 5.0, 500.0}};
  for (double radius : {0.0, 10.0}) {
    std::vector<std::unique_ptr<Operator>> first;
    first.push_back(std::make_unique<test::RecordedBraggOp>("bragg", peaks));
    auto ops = test::build_operators(
        "[[operators]]\ntype = \"origin\"\nname = \"o\"\nbragg = \"bragg\"\nsearch_radius = " +
            std::to_string(radius) + "\n",
        std::move(first));
    const auto c = test::run_engine(std::move(ops), h, nullptr, 2);
    const auto& qx0 = c.maps.at("o_qx0");
    const auto& qy0 = c.maps.at("o_qy0");
    for (std::size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(qx0[i], radius > 0 ? 31.5 + 0.1 * i : 5.0) << i;
      EXPECT_EQ(qy0[i], radius > 0 ? 32.25 : 5.0) << i;
    }
    EXPECT_TRUE(std::isnan(qx0[4]));
    EXPECT_EQ(std::isnan(qx0[5]), radius > 0);
    const auto& fit = c.images.at("o_qx0_fit");
    EXPECT_EQ(fit.space, ImageSpace::kReal);
    if (radius > 0) {
      // qx0 = 31.5 + 0.1 i is a plane in (rx, ry) (i = 3 rx + ry): the fit is exact everywhere,
      // also where nothing was measured.
      for (std::size_t i = 0; i < h.scan_size(); ++i)
        EXPECT_NEAR(fit.values[i], 31.5 + 0.1 * i, 1e-12);
    }
  }
}

// Spec: fit_origin's models over coordinates scaled to [0, 1]: a parabola is fitted exactly by
// "parabola", its mean by "constant"; too few finite values give NaN.
TEST(Origin, FitSurfaces) {
  const std::uint32_t rows = 5, cols = 7;
  std::vector<double> v(rows * cols);
  for (std::uint32_t r = 0; r < rows; ++r) {
    for (std::uint32_t c = 0; c < cols; ++c) {
      const double x = r / 4.0, y = c / 6.0;
      v[r * cols + c] = 3 + 2 * x - y + 0.5 * x * x + 0.25 * y * y - 0.75 * x * y;
    }
  }
  v[3] = std::nan("");
  const auto p = ops::fit_scan_surface(v, rows, cols, ops::OriginFit::kParabola);
  for (std::uint32_t r = 0; r < rows; ++r) {
    for (std::uint32_t c = 0; c < cols; ++c) {
      const double x = r / 4.0, y = c / 6.0;
      EXPECT_NEAR(p[r * cols + c], 3 + 2 * x - y + 0.5 * x * x + 0.25 * y * y - 0.75 * x * y, 1e-9);
    }
  }
  const auto k = ops::fit_scan_surface(v, rows, cols, ops::OriginFit::kConstant);
  double mean = 0;
  int n = 0;
  for (double x : v) {
    if (std::isfinite(x)) mean += x, ++n;
  }
  EXPECT_NEAR(k[0], mean / n, 1e-12);
  std::vector<double> two(rows * cols, std::nan(""));
  two[0] = 1;
  two[1] = 2;
  EXPECT_TRUE(std::isnan(ops::fit_scan_surface(two, rows, cols, ops::OriginFit::kPlane)[0]));
}

// Edge case: mode "bragg" without `bragg`, mode "com" without `radius`: ConfigErrors naming the
// key.
TEST(Origin, ModeNeedsItsKey) {
  for (const char* t : {"[[operators]]\ntype = \"origin\"\n",
                        "[[operators]]\ntype = \"origin\"\nmode = \"com\"\n"}) {
    try {
      (void)test::build_operators(t);
      ADD_FAILURE() << t;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("test.toml"), std::string::npos) << e.what();
    }
  }
}
