// SPDX-License-Identifier: GPL-3.0-or-later
// The documented exit codes of `stemflow run`, end to end: 3 when the results cannot be written
// (the file system refuses the writes: RLIMIT_FSIZE stands in for a full disk, as in the sink's
// own test), with the flushed rows kept and the reason in the log.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "tests/support/process.hpp"

using namespace stemflow;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

TEST(ExitCodes, ResultsThatCannotBeWrittenExitThree) {
  const auto dir = test::work_dir("exit-3");
  {
    test::Process sim({STEMFLOW_SIM_EXE,
                       "synth",
                       "--scan",
                       "128x128",
                       "--frame",
                       "32x32",
                       "--out",
                       (dir / "scan.npy").string()},
                      (dir / "sim.log").string());
    ASSERT_EQ(sim.wait(milliseconds(60000)), 0);
  }
  std::ofstream(dir / "run.toml") << "[input]\nsource = \"file\"\npath = \""
                                  << (dir / "scan.npy").string() << "\"\n"
                                  << "[[operators]]\ntype = \"center_of_mass\"\nname = \"com\"\n"
                                  << "[outputs.hdf5]\npath = \"" << (dir / "out.h5").string()
                                  << "\"\nflush_interval = 0.05\n";
  // The child inherits the limit and the ignored SIGXFSZ (a write past the limit then fails with
  // EFBIG instead of killing the process). 128x128 positions x 3 maps x 8 bytes need ~400 KB.
  struct sigaction old_action {};
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &old_action), 0);
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  rlimit lim = old;
  lim.rlim_cur = 160 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
  int rc = -2;
  {
    test::Process engine({STEMFLOW_EXE, "run", (dir / "run.toml").string()},
                         (dir / "engine.log").string());
    // The limit must not outlive the spawn: restore it at once (the child keeps its copy).
    ::setrlimit(RLIMIT_FSIZE, &old);
    ::sigaction(SIGXFSZ, &old_action, nullptr);
    rc = engine.wait(milliseconds(120000));
  }
  const auto log = test::read_text((dir / "engine.log").string());
  EXPECT_EQ(rc, 3) << log;
  EXPECT_NE(log.find("results incomplete or missing"), std::string::npos) << log;
}
