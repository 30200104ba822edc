// SPDX-License-Identifier: GPL-3.0-or-later
// The results file seen by the field's own readers (PyPI peers in the test venv): py4DSTEM.read()
// loads it with the values the engine computed, and h5py watches it grow during a slow scan.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/process.hpp"

using namespace stemflow;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

const fs::path kPython = fs::path(STEMFLOW_TEST_VENV) / "bin/python";
const fs::path kScripts = fs::path(STEMFLOW_SOURCE_DIR) / "tests/system";

#define REQUIRE_VENV()                                     \
  if (!fs::exists(kPython))                                \
  GTEST_SKIP() << "no test venv at " << STEMFLOW_TEST_VENV \
               << " (tests/python/ensure_venv.sh could not install py4DSTEM/h5py from PyPI)"

void write_config(const fs::path& path,
                  int port,
                  const fs::path& out,
                  const std::string& extra = "") {
  std::ofstream(path) << "[input]\nendpoint = \"tcp://127.0.0.1:" << port << "\"\n"
                      << "[pipeline]\nbatch_frames = 8\n"
                      << "[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\n"
                      << "detector = \"circle\"\ncenter = [64.3, 63.8]\nradius = 6.5\n"
                      << "[[operators]]\ntype = \"center_of_mass\"\nname = \"com\"\n"
                      << extra << "[outputs.hdf5]\npath = \"" << out.string()
                      << "\"\nflush_interval = 0.2\n";
}

}  // namespace

// Spec: py4DSTEM.read() (0.14.18, from PyPI) loads an engine-written file, and every array and peak
// list it returns equals what the file holds.
TEST(PythonReaders, Py4dstemReadLoadsTheResults) {
  REQUIRE_VENV();
  const auto dir = test::work_dir("py4dstem-read");
  const int port = test::free_port();
  const auto out = dir / "result.h5";
  // A vacuum recording for the Bragg template, then the scan with every kind of output.
  test::Process vac({STEMFLOW_SIM_EXE,
                     "synth",
                     "--vacuum",
                     "--scan",
                     "1x8",
                     "--frame",
                     "128x128",
                     "--out",
                     (dir / "vacuum.npy").string()},
                    (dir / "vacuum.log").string());
  ASSERT_EQ(vac.wait(milliseconds(60000)), 0);
  write_config(dir / "run.toml",
               port,
               out,
               "[[operators]]\ntype = \"bragg_disks\"\nname = \"bragg\"\nvacuum = \"vacuum.npy\"\n"
               "subpixel = \"poly\"\nedge_boundary = 4\nmin_peak_spacing = 9\n"
               "[[operators]]\ntype = \"mean_pattern\"\nname = \"mean\"\n");
  test::Process engine({STEMFLOW_EXE, "run", (dir / "run.toml").string(), "--series", "1"},
                       (dir / "engine.log").string());
  test::Process sim({STEMFLOW_SIM_EXE,
                     "synth",
                     "--scan",
                     "16x16",
                     "--frame",
                     "128x128",
                     "--bind",
                     "tcp://127.0.0.1:" + std::to_string(port)},
                    (dir / "sim.log").string());
  ASSERT_EQ(sim.wait(milliseconds(60000)), 0);
  ASSERT_EQ(engine.wait(milliseconds(60000)), 0) << test::read_text((dir / "engine.log").string());
  test::Process py({kPython.string(),
                    (kScripts / "py4dstem_read.py").string(),
                    out.string(),
                    "bf,com_qx,com_qy,coverage,bragg,bragg_count,mean"},
                   (dir / "py4dstem.log").string());
  EXPECT_EQ(py.wait(milliseconds(120000)), 0) << test::read_text((dir / "py4dstem.log").string());
}

// Spec: h5py opens the file during a slow scan (SWMR) and sees the covered positions grow.
TEST(PythonReaders, H5pySeesTheFileGrow) {
  REQUIRE_VENV();
  const auto dir = test::work_dir("h5py-watch");
  const int port = test::free_port();
  const auto out = dir / "live.h5";
  write_config(dir / "run.toml", port, out);
  test::Process engine({STEMFLOW_EXE, "run", (dir / "run.toml").string(), "--series", "1"},
                       (dir / "engine.log").string());
  test::Process sim({STEMFLOW_SIM_EXE,
                     "synth",
                     "--scan",
                     "32x32",
                     "--frame",
                     "128x128",
                     "--rate",
                     "200",
                     "--bind",
                     "tcp://127.0.0.1:" + std::to_string(port)},
                    (dir / "sim.log").string());
  test::Process watch(
      {kPython.string(), (kScripts / "h5py_watch.py").string(), out.string(), "4", "0.5"},
      (dir / "watch.log").string());
  ASSERT_EQ(watch.wait(milliseconds(60000)), 0) << test::read_text((dir / "watch.log").string());
  ASSERT_EQ(sim.wait(milliseconds(60000)), 0);
  ASSERT_EQ(engine.wait(milliseconds(60000)), 0);
  std::istringstream lines(test::read_text((dir / "watch.log").string()));
  std::vector<long> covered;
  double t;
  long c;
  while (lines >> t >> c) {
    if (c > 0) covered.push_back(c);
  }
  ASSERT_GE(covered.size(), 3u) << test::read_text((dir / "watch.log").string());
  EXPECT_LT(covered.front(), covered.back()) << "h5py saw no growth";
  EXPECT_LT(covered.back(), 1024) << "the scan should still have been running";
}
