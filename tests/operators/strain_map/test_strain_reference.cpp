// SPDX-License-Identifier: GPL-3.0-or-later
// origin + bragg_vector_map + strain_map against py4DSTEM 0.14.18's own workflow on the same peaks
// (its measure_origin, fit_origin, histogram(mode="cal"), StrainMap choose/fit basis vectors and
// get_strain with a reference region; py4dstem_strain.py), and both against the generator's ground
// truth (the reference datasets' ground_truth.csv: exact disk centres with their indices). Needs
// ../shared and the test venv; skips saying which is missing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "operators/origin/least_squares.hpp"
#include "operators/strain_map/strain_map.hpp"
#include "tests/support/physics_engine.hpp"
#include "tests/support/reference.hpp"

using namespace stemflow;
namespace fs = std::filesystem;

namespace {

//! The rows of a CSV as numbers; a header line (not starting with a digit or sign) is skipped.
std::vector<std::vector<double>> read_rows(const fs::path& p) {
  std::vector<std::vector<double>> out;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || !(std::isdigit(static_cast<unsigned char>(line[0])) || line[0] == '-'))
      continue;
    std::vector<double> row;
    std::istringstream s(line);
    std::string f;
    while (std::getline(s, f, ',')) row.push_back(std::stod(f));
    out.push_back(std::move(row));
  }
  return out;
}

struct Dataset {
  fs::path dir;
  std::uint32_t R[2], Q[2];
  std::array<double, 2> g1, g2;
  std::array<std::uint32_t, 4> region;
  double tolerance;
};

Dataset load(const fs::path& dir) {
  const auto meta = test::read_meta(dir);
  Dataset d;
  d.dir = dir;
  for (int i = 0; i < 2; ++i) {
    d.R[i] = meta["data"]["shape"][i];
    d.Q[i] = meta["data"]["shape"][2 + i];
  }
  const auto& g = meta["generator"]["params"];
  d.g1 = {g["g1"][0], g["g1"][1]};
  d.g2 = {g["g2"][0], g["g2"][1]};
  // A block of rows in the middle, a quarter of the columns: not centred on the ramps' zero.
  d.region = {d.R[0] / 4, 3 * d.R[0] / 4, 0, d.R[1] / 4};
  // The ramps move the outer disks by up to ~Q/64 px from the mean lattice: a tolerance of Q/64
  // px (2 at Q = 128, 4 at 256) indexes every real disk on both sides.
  d.tolerance = d.Q[0] / 64.0;
  return d;
}

//! The generator's lattice per position: g1, g2 fitted exactly to the true disk centres.
std::vector<std::array<double, 4>> true_lattice(const Dataset& d) {
  const std::size_t n = std::size_t(d.R[0]) * d.R[1];
  std::vector<ops::NormalEquations<3, 2>> ne(n);
  for (const auto& r : read_rows(d.dir / "ground_truth.csv")) {
    ne[std::size_t(r[0]) * d.R[1] + std::size_t(r[1])].add({1.0, r[2], r[3]}, {r[4], r[5]});
  }
  std::vector<std::array<double, 4>> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::array<std::array<double, 2>, 3> x{};
    EXPECT_TRUE(ne[i].solve(x));
    out[i] = {x[1][0], x[1][1], x[2][0], x[2][1]};
  }
  return out;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

}  // namespace

// Spec: on py4DSTEM's own peaks, stemflow's measured origin is py4DSTEM's exactly (and, on the
// pixels, origin mode "com" is get_origin's to 1e-9 px), the fitted
// origin and the Bragg vector map agree to rounding, and the strain maps (e_xx, e_yy, e_xy, theta)
// agree to 1e-9 at every position both fit; against the generator's ramps stemflow's RMS error is
// no worse than py4DSTEM's (within 1e-9) and below 1.5e-3.
TEST(StrainReference, MatchesPy4dstemAndRecoversTheGroundTruth) {
  const auto datasets = test::reference_datasets();
  STEMFLOW_REQUIRE_REFERENCE(datasets);
  const fs::path python = fs::path(STEMFLOW_TEST_VENV) / "bin" / "python";
  if (!fs::exists(python)) {
    GTEST_SKIP() << "no test venv with py4DSTEM at " << STEMFLOW_TEST_VENV
                 << " (tests/python/ensure_venv.sh)";
  }
  for (const auto& dir : datasets) {
    SCOPED_TRACE(dir.filename().string());
    const Dataset d = load(dir);
    const std::size_t n = std::size_t(d.R[0]) * d.R[1];
    // py4DSTEM's workflow (about 10 s).
    const fs::path out =
        fs::path(STEMFLOW_BINARY_DIR) / "test-output" / ("strain_" + dir.filename().string());
    fs::create_directories(out);
    const std::string cmd = python.string() + " " + STEMFLOW_SOURCE_DIR +
                            "/tests/operators/strain_map/py4dstem_strain.py " + dir.string() + " " +
                            (dir / "peaks_poly.csv").string() + " " + out.string() + " " +
                            std::to_string(d.region[0]) + " " + std::to_string(d.region[1]) + " " +
                            std::to_string(d.region[2]) + " " + std::to_string(d.region[3]) + " " +
                            std::to_string(d.tolerance) + " 33 > " + (out / "log.txt").string() +
                            " 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd << " (see " << (out / "log.txt") << ")";

    const auto peaks = test::read_peaks_csv((dir / "peaks_poly.csv").string(), d.R[0], d.R[1]);
    std::vector<std::unique_ptr<Operator>> first;
    first.push_back(std::make_unique<test::RecordedBraggOp>("bragg", peaks));
    auto ops = test::build_operators(
        "[[operators]]\ntype = \"origin\"\nname = \"origin\"\nbragg = \"bragg\"\n"
        "[[operators]]\ntype = \"bragg_vector_map\"\nname = \"bvm\"\nbragg = \"bragg\"\n"
        "origin = \"origin\"\n"
        "[[operators]]\ntype = \"strain_map\"\nname = \"strain\"\nbragg = \"bragg\"\n"
        "g1 = [" +
            std::to_string(d.g1[0]) + ", " + std::to_string(d.g1[1]) +
            "]\n"
            "g2 = [" +
            std::to_string(d.g2[0]) + ", " + std::to_string(d.g2[1]) +
            "]\n"
            "index_tolerance = " +
            std::to_string(d.tolerance) + "\nreference_region = [" + std::to_string(d.region[0]) +
            ", " + std::to_string(d.region[1]) + ", " + std::to_string(d.region[2]) + ", " +
            std::to_string(d.region[3]) + "]\n",
        std::move(first));
    SeriesHeader h;
    h.scan_rows = d.R[0];
    h.scan_cols = d.R[1];
    h.frame_rows = d.Q[0];
    h.frame_cols = d.Q[1];
    const auto c = test::run_engine(std::move(ops), h);
    ASSERT_EQ(c.frames, n);

    // The origin: measured exactly; fitted to the rounding of curve_fit.
    const auto meas = read_rows(out / "origin_meas.csv");
    const auto fit = read_rows(out / "origin_fit.csv");
    ASSERT_EQ(meas.size(), n);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(c.maps.at("origin_qx0")[i], meas[i][2]) << i;
      EXPECT_EQ(c.maps.at("origin_qy0")[i], meas[i][3]) << i;
      EXPECT_NEAR(c.images.at("origin_qx0_fit").values[i], fit[i][2], 1e-6) << i;
      EXPECT_NEAR(c.images.at("origin_qy0_fit").values[i], fit[i][3], 1e-6) << i;
    }
    EXPECT_EQ(c.images.at("origin_qx0_fit").space, ImageSpace::kReal);

    // The Bragg vector map, centred on the mean fitted origin as histogram(mode="cal").
    {
      const auto& bvm = c.images.at("bvm");
      ASSERT_EQ(bvm.rows, d.Q[0]);
      ASSERT_EQ(bvm.cols, d.Q[1]);
      EXPECT_EQ(bvm.space, ImageSpace::kDiffraction);
      std::vector<double> ref(bvm.values.size());
      std::ifstream in(out / "bvm.raw", std::ios::binary);
      in.read(reinterpret_cast<char*>(ref.data()), std::streamsize(ref.size() * sizeof(double)));
      ASSERT_TRUE(in);
      double peak = 0, worst = 0;
      for (std::size_t i = 0; i < ref.size(); ++i) {
        peak = std::max(peak, std::abs(ref[i]));
        worst = std::max(worst, std::abs(ref[i] - bvm.values[i]));
      }
      EXPECT_LE(worst, 1e-6 * peak) << "largest bin " << peak;
    }

    // The strain maps against py4DSTEM's (rx, ry, e_xx, e_yy, e_xy, theta, mask).
    const auto strain = read_rows(out / "strain.csv");
    ASSERT_EQ(strain.size(), n);
    const char* names[4] = {"strain_e_xx", "strain_e_yy", "strain_e_xy", "strain_theta"};
    std::size_t both = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const bool ours = std::isfinite(c.images.at(names[0]).values[i]);
      const bool theirs = strain[i][6] != 0;
      EXPECT_EQ(ours, theirs) << "position " << i << ": fitted by one side only";
      if (!ours || !theirs) continue;
      ++both;
      for (int k = 0; k < 4; ++k) {
        EXPECT_NEAR(c.images.at(names[k]).values[i], strain[i][2 + k], 1e-9)
            << names[k] << " at " << i;
      }
    }
    EXPECT_GE(both, n * 95 / 100);

    // Against the ground truth: the true lattice's strain relative to the same region's median.
    const auto truth_g = true_lattice(d);
    std::array<double, 4> ref{};
    for (int k = 0; k < 4; ++k) {
      std::vector<double> v;
      for (std::uint32_t rx = d.region[0]; rx < d.region[1]; ++rx) {
        for (std::uint32_t ry = d.region[2]; ry < d.region[3]; ++ry) {
          v.push_back(truth_g[std::size_t(rx) * d.R[1] + ry][k]);
        }
      }
      ref[k] = median_of(v);
    }
    double se_ours[4] = {}, se_theirs[4] = {}, span[4] = {};
    double lo[4] = {1, 1, 1, 1}, hi[4] = {-1, -1, -1, -1};
    std::size_t m = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!std::isfinite(c.images.at(names[0]).values[i]) || strain[i][6] == 0) continue;
      const auto t = ops::strain_from_reference(truth_g[i], ref);
      ++m;
      for (int k = 0; k < 4; ++k) {
        se_ours[k] += std::pow(c.images.at(names[k]).values[i] - t[k], 2);
        se_theirs[k] += std::pow(strain[i][2 + k] - t[k], 2);
        lo[k] = std::min(lo[k], t[k]);
        hi[k] = std::max(hi[k], t[k]);
      }
    }
    for (int k = 0; k < 4; ++k) {
      const double ours = std::sqrt(se_ours[k] / m), theirs = std::sqrt(se_theirs[k] / m);
      span[k] = hi[k] - lo[k];
      std::printf("%s %s: RMS error vs ground truth %.3e (py4DSTEM %.3e), true span %.3e\n",
                  dir.filename().string().c_str(),
                  names[k],
                  ours,
                  theirs,
                  span[k]);
      EXPECT_LE(ours, theirs + 1e-9) << names[k];
      EXPECT_LT(ours, 1.5e-3) << names[k];
    }

    // origin mode "com" against get_origin(r = the probe radius) on the first scan row's frames.
    const auto com = read_rows(out / "com_origin.csv");
    ASSERT_EQ(com.size(), d.R[1] + 1u);
    SeriesHeader row = h;
    row.scan_rows = 1;
    std::vector<std::uint16_t> pixels(std::size_t(d.R[1]) * d.Q[0] * d.Q[1]);
    {
      std::ifstream in(dir / "data_uint16.raw", std::ios::binary);
      in.read(reinterpret_cast<char*>(pixels.data()), std::streamsize(pixels.size() * 2));
      ASSERT_TRUE(in);
    }
    const auto cc = test::run_engine(
        test::build_operators("[[operators]]\ntype = \"origin\"\nname = \"o\"\nmode = \"com\"\n"
                              "radius = " +
                              std::to_string(com[0][0]) + "\n"),
        row,
        &pixels);
    for (std::uint32_t ry = 0; ry < d.R[1]; ++ry) {
      EXPECT_NEAR(cc.maps.at("o_qx0")[ry], com[ry + 1][2], 1e-9) << ry;
      EXPECT_NEAR(cc.maps.at("o_qy0")[ry], com[ry + 1][3], 1e-9) << ry;
    }
  }
}
