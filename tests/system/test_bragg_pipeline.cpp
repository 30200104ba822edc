// SPDX-License-Identifier: GPL-3.0-or-later
// Bragg disk detection through the whole engine: the shared py4DSTEM reference scan replayed from
// its raw file, the template built from its vacuum stack by the engine, results read back from HDF5
// and compared with py4DSTEM's own peak lists.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ingest/npy.hpp"
#include "tests/support/h5read.hpp"
#include "tests/support/process.hpp"
#include "tests/support/reference.hpp"

using namespace stemflow;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

//! peaks_<run>.csv as per-position lists in py4DSTEM's order.
std::vector<std::vector<std::array<double, 3>>> reference_peaks(const fs::path& csv,
                                                                std::size_t n,
                                                                std::size_t ry) {
  std::vector<std::vector<std::array<double, 3>>> out(n);
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string f[6];
    for (auto& x : f) std::getline(ss, x, ',');
    out[std::stoul(f[0]) * ry + std::stoul(f[1])].push_back(
        {std::stod(f[3]), std::stod(f[4]), std::stod(f[5])});
  }
  return out;
}

}  // namespace

// Spec: replaying the reference scan with py4DSTEM's poly parameters in float64, the engine's
// BraggVectors are py4DSTEM's peak lists (same order, same counts), the count map matches, and the
// mean pattern is the mean of the frames; origin, Bragg vector map and strain maps are in the file
// as the classes py4DSTEM reads (and py4DSTEM.read() reads them back, when the test venv exists).
// Tolerance: py4DSTEM correlated with its template rounded to float32 (template_float32.raw); the
// engine builds the template itself in float64, which moves peaks by ~5e-9 px. The operator's own
// tests show bit-level agreement given the same template.
TEST(BraggPipeline, ReplayedReferenceGivesPy4dstemPeaks) {
  const auto datasets = test::reference_datasets();
  STEMFLOW_REQUIRE_REFERENCE(datasets);
  const auto ref = datasets.front();  // py4dstem-ref-128
  const auto meta = test::read_meta(ref);
  const auto& shape = meta["data"]["shape"];
  const std::uint32_t rx = shape[0], ry = shape[1], q = shape[2];
  const auto& params = meta["detection_runs"]["poly"]["params"];
  const auto dir = test::work_dir("bragg-pipeline");

  // The vacuum stack as .npy, as a user would record it.
  const auto vac = test::read_raw<std::uint16_t>(ref / "vacuum_stack_uint16.raw");
  {
    std::ofstream f(dir / "vacuum.npy", std::ios::binary);
    ingest::write_npy_header(f, Dtype::kU16, {vac.size() / (q * q), q, q});
    f.write(reinterpret_cast<const char*>(vac.data()),
            static_cast<std::streamsize>(vac.size() * 2));
  }
  const auto out = dir / "bragg.h5";
  std::ofstream(dir / "run.toml")
      << "[input]\nsource = \"file\"\npath = \"" << (ref / "data_uint16.raw").string() << "\"\n"
      << "format = \"raw\"\nframe_shape = [" << q << ", " << q << "]\n"
      << "[scan]\nshape = [" << rx << ", " << ry << "]\n"
      << "[pipeline]\nbatch_frames = 16\n"
      << "[[operators]]\ntype = \"bragg_disks\"\nname = \"bragg\"\nvacuum = \"vacuum.npy\"\n"
      << "subpixel = \"poly\"\nprecision = \"f64\"\n"
      << "corr_power = " << double(params["corrPower"]) << "\nsigma = " << double(params["sigma"])
      << "\nedge_boundary = " << int(params["edgeBoundary"])
      << "\nmin_relative_intensity = " << double(params["minRelativeIntensity"])
      << "\nmin_peak_spacing = " << double(params["minPeakSpacing"])
      << "\nmax_num_peaks = " << int(params["maxNumPeaks"]) << "\n"
      << "[[operators]]\ntype = \"mean_pattern\"\nname = \"mean\"\n"
      // The live physics on the detected peaks (issue 15), for the file's layout and py4DSTEM.
      << "[[operators]]\ntype = \"origin\"\nname = \"origin\"\nbragg = \"bragg\"\n"
      << "[[operators]]\ntype = \"bragg_vector_map\"\nname = \"bvm\"\nbragg = \"bragg\"\n"
      << "origin = \"origin\"\n"
      << "[[operators]]\ntype = \"strain_map\"\nname = \"strain\"\nbragg = \"bragg\"\n"
      << "g1 = [" << double(meta["generator"]["params"]["g1"][0]) << ", "
      << double(meta["generator"]["params"]["g1"][1]) << "]\n"
      << "g2 = [" << double(meta["generator"]["params"]["g2"][0]) << ", "
      << double(meta["generator"]["params"]["g2"][1]) << "]\n"
      << "reference_region = [8, 24, 0, 8]\n"
      << "[outputs.hdf5]\npath = \"" << out.string() << "\"\n";
  test::Process engine({STEMFLOW_EXE, "run", (dir / "run.toml").string()},
                       (dir / "engine.log").string());
  ASSERT_EQ(engine.wait(milliseconds(120000)), 0) << test::read_text((dir / "engine.log").string());

  test::H5File f(out.string());
  const auto got = f.peak_lists("/stemflow/bragg/_v_uncal/data");
  const auto want = reference_peaks(ref / "peaks_poly.csv", std::size_t(rx) * ry, ry);
  ASSERT_EQ(got.size(), want.size());
  const auto counts = f.doubles("/stemflow/bragg_count/data");
  std::size_t peaks = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i].size(), want[i].size()) << "position " << i;
    EXPECT_EQ(counts[i], double(want[i].size()));
    for (std::size_t k = 0; k < want[i].size(); ++k) {
      EXPECT_NEAR(got[i][k][0], want[i][k][0], 1e-6) << i << "/" << k;
      EXPECT_NEAR(got[i][k][1], want[i][k][1], 1e-6) << i << "/" << k;
      EXPECT_NEAR(got[i][k][2], want[i][k][2], 1e-6 * std::abs(want[i][k][2])) << i << "/" << k;
      ++peaks;
    }
  }
  EXPECT_EQ(peaks, std::size_t(meta["detection_runs"]["poly"]["total_peaks"]));

  // The mean pattern, against the mean of the raw frames.
  const auto data = test::read_raw<std::uint16_t>(ref / "data_uint16.raw");
  const auto mean = f.doubles("/stemflow/mean/data");
  ASSERT_EQ(mean.size(), std::size_t(q) * q);
  for (std::size_t p : {std::size_t(0), std::size_t(q * q / 2 + q / 2), std::size_t(q * q - 1)}) {
    double s = 0;
    for (std::size_t n = 0; n < std::size_t(rx) * ry; ++n) s += data[n * q * q + p];
    EXPECT_NEAR(mean[p], s / (rx * ry), 1e-9 * std::max(1.0, s));
  }
  // The physics: strain maps and the fitted origin as RealSlices (scan-shaped), the Bragg vector
  // map as a DiffractionSlice; a strain fitted at (nearly) every position, none wild.
  for (const char* m : {"strain_e_xx",
                        "strain_e_yy",
                        "strain_e_xy",
                        "strain_theta",
                        "origin_qx0_fit",
                        "origin_qy0_fit"}) {
    EXPECT_EQ(f.attr(std::string("/stemflow/") + m, "python_class"), "RealSlice") << m;
    const auto v = f.doubles(std::string("/stemflow/") + m + "/data");
    ASSERT_EQ(v.size(), std::size_t(rx) * ry) << m;
    std::size_t finite = 0;
    for (double x : v) {
      if (!std::isfinite(x)) continue;
      ++finite;
      if (std::string(m).rfind("strain", 0) == 0) EXPECT_LT(std::abs(x), 0.05) << m;
    }
    EXPECT_GE(finite, v.size() * 95 / 100) << m;
  }
  EXPECT_EQ(f.attr("/stemflow/bvm", "python_class"), "DiffractionSlice");
  EXPECT_EQ(f.doubles("/stemflow/bvm/data").size(), std::size_t(q) * q);
  if (fs::exists(fs::path(STEMFLOW_TEST_VENV) / "bin/python")) {
    // py4DSTEM.read() gives back every array as its class with the values written.
    test::Process py({(fs::path(STEMFLOW_TEST_VENV) / "bin/python").string(),
                      (fs::path(STEMFLOW_SOURCE_DIR) / "tests/system/py4dstem_read.py").string(),
                      out.string(),
                      "strain_e_xx,strain_theta,bvm,origin_qx0_fit"},
                     (dir / "py4dstem.log").string());
    EXPECT_EQ(py.wait(milliseconds(120000)), 0) << test::read_text((dir / "py4dstem.log").string());
  }
  // The engine recorded the template it built.
  EXPECT_NEAR(std::stod(f.string("/stemflow/metadatabundle/operator_bragg/probe_alpha")),
              double(meta["template"]["alpha"]),
              1e-5);
}
