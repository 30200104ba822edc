// SPDX-License-Identifier: GPL-3.0-or-later
// dpc: the rotation and transpose found by least curl, the phase recovered from a CoM field with a
// known phase, and py4DSTEM 0.14.18's DPC on the same field (py4dstem_dpc.py, in the test venv).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "operators/dpc/dpc.hpp"
#include "tests/support/physics_engine.hpp"

using namespace stemflow;
namespace fs = std::filesystem;

namespace {

struct Field {
  std::uint32_t rows, cols;
  std::vector<double> qx, qy, phi;
};

//! Gaussian bumps of phase; the CoM is their gradient rotated into the detector frame by
//! -rotation (transposed: the detector axes swapped), plus a descan plane.
Field make_field(std::uint32_t rows, std::uint32_t cols, double rot_deg, bool transpose) {
  Field f{rows, cols, {}, {}, {}};
  const std::size_t n = std::size_t(rows) * cols;
  f.qx.resize(n);
  f.qy.resize(n);
  f.phi.assign(n, 0.0);
  std::vector<double> gx(n, 0.0), gy(n, 0.0);
  const double bumps[4][4] = {
      {2.0, 6, 9, 3}, {-1.5, 15, 20, 4}, {1.0, 10, 26, 2.5}, {-2, 18, 5, 3}};
  for (std::uint32_t r = 0; r < rows; ++r) {
    for (std::uint32_t c = 0; c < cols; ++c) {
      for (const auto& b : bumps) {
        const double dx = r - b[1], dy = c - b[2], s2 = b[3] * b[3];
        const double v = b[0] * std::exp(-(dx * dx + dy * dy) / (2 * s2));
        f.phi[r * cols + c] += v;
        gx[r * cols + c] += -v * dx / s2;
        gy[r * cols + c] += -v * dy / s2;
      }
    }
  }
  const double t = rot_deg * M_PI / 180, cs = std::cos(t), sn = std::sin(t);
  for (std::size_t i = 0; i < n; ++i) {
    const double u = cs * gx[i] + sn * gy[i], v = -sn * gx[i] + cs * gy[i];
    const double r = double(i / cols), c = double(i % cols);
    f.qx[i] = (transpose ? v : u) + 64.2 + 0.02 * r - 0.01 * c;
    f.qy[i] = (transpose ? u : v) + 63.7 - 0.015 * r + 0.01 * c;
  }
  return f;
}

//! Pearson correlation of a and b over the finite entries.
double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  double sa = 0, sb = 0, n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isfinite(a[i]) && std::isfinite(b[i])) sa += a[i], sb += b[i], ++n;
  }
  const double ma = sa / n, mb = sb / n;
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) continue;
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) * (a[i] - ma);
    bb += (b[i] - mb) * (b[i] - mb);
  }
  return ab / std::sqrt(aa * bb);
}

test::Captured run_dpc(const Field& f, const std::string& extra = "", double preview = 0) {
  std::vector<std::unique_ptr<Operator>> first;
  first.push_back(std::make_unique<test::RecordedComOp>(
      "com", f.qx, f.qy, std::chrono::milliseconds(preview > 0 ? 3 : 0)));
  auto ops = test::build_operators(
      "[[operators]]\ntype = \"dpc\"\nname = \"dpc\"\ncom = \"com\"\npreview_seconds = 0.1\n" +
          extra,
      std::move(first));
  SeriesHeader h;
  h.scan_rows = f.rows;
  h.scan_cols = f.cols;
  h.frame_rows = h.frame_cols = 8;
  return test::run_engine(std::move(ops), h, nullptr, 8, preview);
}

}  // namespace

// Spec: the least-curl search finds the rotation (to its 1-degree grid) and the transpose; the
// phase correlates with the true phase (> 0.99) and dDPC with its Laplacian (> 0.9, centred
// differences), NaN on the border; both are RealSlices.
TEST(Dpc, FindsRotationAndTransposeAndRecoversThePhase) {
  for (const auto& [rot, tr] : {std::pair{17.0, false}, std::pair{-32.0, true}}) {
    SCOPED_TRACE(rot);
    const Field f = make_field(24, 32, rot, tr);
    const auto r = ops::solve_dpc(f.qx, f.qy, f.rows, f.cols, ops::DpcParams{});
    EXPECT_EQ(r.rotation_deg, rot);
    EXPECT_EQ(r.transpose, tr);
    EXPECT_GT(correlation(r.phase, f.phi), 0.99);
    std::vector<double> lap(f.phi.size(), NAN);
    for (std::uint32_t i = 1; i + 1 < f.rows; ++i) {
      for (std::uint32_t j = 1; j + 1 < f.cols; ++j) {
        const auto at = [&](std::uint32_t a, std::uint32_t b) { return f.phi[a * f.cols + b]; };
        lap[i * f.cols + j] =
            at(i + 1, j) + at(i - 1, j) + at(i, j + 1) + at(i, j - 1) - 4 * at(i, j);
      }
    }
    EXPECT_GT(correlation(r.ddpc, lap), 0.9);
    EXPECT_TRUE(std::isnan(r.ddpc[0]));
    EXPECT_TRUE(std::isnan(r.ddpc[f.cols * f.rows - 1]));
  }
}

// Spec: through the engine: the phase is written at the end as RealSlices, a given rotation and
// transpose are used as given, and a live phase (solved off the sink thread) reaches the
// observers during the scan.
TEST(Dpc, EngineGivenRotationAndLivePhase) {
  const Field f = make_field(24, 32, 17.0, false);
  const auto c = run_dpc(f, "", 1e-9);
  ASSERT_TRUE(c.images.count("dpc_phase"));
  EXPECT_EQ(c.images.at("dpc_phase").space, ImageSpace::kReal);
  EXPECT_GT(correlation(c.images.at("dpc_phase").values, f.phi), 0.99);
  // A rotation and transpose given are used as given (no search): the phase is solve_dpc's with
  // them, not the one with the rotation found.
  const auto w = run_dpc(f, "rotation = 60.0\ntranspose = true\n");
  ops::DpcParams given;
  given.rotation_deg = 60.0;
  given.transpose = true;
  const auto want = ops::solve_dpc(f.qx, f.qy, f.rows, f.cols, given);
  const auto& got = w.images.at("dpc_phase").values;
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_DOUBLE_EQ(got[i], want.phase[i]) << i;
  EXPECT_LT(correlation(got, f.phi), 0.9);
  ASSERT_TRUE(c.last_live.count("dpc_phase"));
  EXPECT_EQ(c.last_live.at("dpc_phase").values.size(), got.size());
}

// Spec: against py4DSTEM's DPC (preprocess with force_com_measured, reconstruct with its
// defaults) on the same field: the same rotation and transpose, and the same phase to 1e-4 of its
// range (py4DSTEM computes in float32, we in float64); the correlation with the true phase is
// py4DSTEM's (within 1e-4; 64 iterations leave the broadest bumps unconverged on both sides).
TEST(Dpc, MatchesPy4dstem) {
  const fs::path python = fs::path(STEMFLOW_TEST_VENV) / "bin" / "python";
  if (!fs::exists(python)) {
    GTEST_SKIP() << "no test venv with py4DSTEM at " << STEMFLOW_TEST_VENV
                 << " (tests/python/ensure_venv.sh)";
  }
  struct Case {
    double rot;
    int transpose;
    int seed;
  };
  for (const Case k : {Case{17, 0, 5}, Case{-32, 1, 6}}) {
    SCOPED_TRACE(k.rot);
    const fs::path out =
        fs::path(STEMFLOW_BINARY_DIR) / "test-output" / ("dpc_" + std::to_string(k.seed));
    fs::create_directories(out);
    const std::string cmd = python.string() + " " + STEMFLOW_SOURCE_DIR +
                            "/tests/operators/dpc/py4dstem_dpc.py " + out.string() + " 24 32 " +
                            std::to_string(k.rot) + " " + std::to_string(k.transpose) + " " +
                            std::to_string(k.seed) + " > " + (out / "log.txt").string() + " 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    auto raw = [&](const char* name) {
      std::vector<double> v(24 * 32);
      std::ifstream in(out / name, std::ios::binary);
      in.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * sizeof(double)));
      EXPECT_TRUE(in) << name;
      return v;
    };
    Field f{24, 32, raw("com_x.raw"), raw("com_y.raw"), raw("truth.raw")};
    const auto theirs = raw("phase.raw");
    double rot = 0;
    int tr = 0;
    std::ifstream(out / "rotation.txt") >> rot >> tr;
    const auto r = ops::solve_dpc(f.qx, f.qy, 24, 32, ops::DpcParams{});
    EXPECT_NEAR(r.rotation_deg, rot, 1e-5);
    EXPECT_EQ(r.transpose, tr == 1);
    double lo = 1e300, hi = -1e300, worst = 0;
    for (std::size_t i = 0; i < theirs.size(); ++i) {
      lo = std::min(lo, theirs[i]);
      hi = std::max(hi, theirs[i]);
      worst = std::max(worst, std::abs(theirs[i] - r.phase[i]));
    }
    EXPECT_LE(worst, 1e-4 * (hi - lo)) << "range " << hi - lo;
    EXPECT_GE(correlation(r.phase, f.phi), correlation(theirs, f.phi) - 1e-4);
    EXPECT_GT(correlation(r.phase, f.phi), 0.8);
    std::printf(
        "dpc rotation %g transpose %d: max |stemflow - py4DSTEM| %.3e of range %.3f; "
        "correlation with the true phase %.5f (py4DSTEM %.5f)\n",
        r.rotation_deg,
        int(r.transpose),
        worst,
        hi - lo,
        correlation(r.phase, f.phi),
        correlation(theirs, f.phi));
  }
}
