// SPDX-License-Identifier: GPL-3.0-or-later
// The real executables where a facility would run them badly: pinned to one CPU (a container with a
// one-CPU limit, a Slurm task with one CPU, an MPI rank bound to one core), live and from a file,
// with a signal in the middle; and two engines connected to one sender.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/process.hpp"

using namespace stemflow;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

const std::string kTaskset = "/usr/bin/taskset";

fs::path work_dir(const std::string& name) { return test::work_dir("hostile-" + name); }

void write_npy(const fs::path& npy, const std::string& scan) {
  test::Process sim({STEMFLOW_SIM_EXE,
                     "synth",
                     "--scan",
                     scan,
                     "--frame",
                     "64x64",
                     "--seed",
                     "5",
                     "--out",
                     npy.string()},
                    npy.string() + ".log");
  ASSERT_EQ(sim.wait(milliseconds(60000)), 0) << test::read_text(npy.string() + ".log");
}

// A pool of 1 MiB holds 128 frames of 64x64 u16: every series here is larger than the pool.
void write_config(const fs::path& path,
                  const std::string& input,
                  const std::string& pipeline = "") {
  std::ofstream(path) << "[input]\n"
                      << input << "\n[pipeline]\nbatch_frames = 16\nmemory_limit = \"1MiB\"\n"
                      << pipeline << "\n"
                      << "[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\n"
                      << "detector = \"circle\"\ncenter = [32.0, 32.0]\nradius = 6.0\n"
                      << "[[operators]]\ntype = \"center_of_mass\"\nname = \"com\"\n"
                      << "[outputs.hdf5]\npath = \"" << (path.parent_path() / "out.h5").string()
                      << "\"\nif_exists = \"overwrite\"\n";
}

bool has(const std::string& log, const std::string& what) {
  return log.find(what) != std::string::npos;
}

class OneCpu : public ::testing::TestWithParam<std::string> {};

// Spec: pinned to one CPU, with pipeline.threads at its default and at 1, a file replay larger than
// the batch pool runs to the end (it used to hang in BatchPool::acquire with no worker thread).
TEST_P(OneCpu, FileReplayLargerThanThePoolFinishes) {
  const auto dir = work_dir("replay-" + GetParam());
  write_npy(dir / "scan.npy", "64x64");
  write_config(dir / "run.toml",
               "source = \"file\"\npath = \"" + (dir / "scan.npy").string() + "\"",
               GetParam() == "default" ? "" : "threads = " + GetParam());
  test::Process engine({kTaskset, "-c", "0", STEMFLOW_EXE, "run", (dir / "run.toml").string()},
                       (dir / "engine.log").string());
  const int rc = engine.wait(milliseconds(60000));
  const auto log = test::read_text((dir / "engine.log").string());
  ASSERT_EQ(rc, 0) << log;
  EXPECT_TRUE(has(log, "4096 frames received, 4096 processed")) << log;
}

INSTANTIATE_TEST_SUITE_P(Threads, OneCpu, ::testing::Values("default", "1"));

// Spec: live, DECTRIS stream V1, the engine and the detector both on one CPU.
TEST(OneCpuLive, DectrisStream1SeriesLargerThanThePoolFinishes) {
  const auto dir = work_dir("live");
  const std::string ep = "tcp://127.0.0.1:" + std::to_string(test::free_port());
  write_config(dir / "run.toml",
               "protocol = \"dectris-stream1\"\nendpoint = \"" + ep + "\"\nseries_timeout = 5.0");
  test::Process engine(
      {kTaskset, "-c", "0", STEMFLOW_EXE, "run", (dir / "run.toml").string(), "--series", "1"},
      (dir / "engine.log").string());
  test::Process sim({kTaskset,
                     "-c",
                     "0",
                     STEMFLOW_SIM_EXE,
                     "synth",
                     "--scan",
                     "32x32",
                     "--frame",
                     "64x64",
                     "--protocol",
                     "dectris-stream1",
                     "--bind",
                     ep},
                    (dir / "sim.log").string());
  const int rc = engine.wait(milliseconds(60000));
  const auto log = test::read_text((dir / "engine.log").string());
  ASSERT_EQ(rc, 0) << log << test::read_text((dir / "sim.log").string());
  EXPECT_TRUE(has(log, "1024 frames received, 1024 processed")) << log;
  EXPECT_EQ(sim.wait(milliseconds(30000)), 0);
}

// Spec: on one CPU a signal still ends the engine: SIGTERM in the middle of a paced replay drains
// and exits 0 with the series ended as interrupted.
TEST(OneCpuSignal, SigtermEndsAPacedReplay) {
  const auto dir = work_dir("signal");
  write_npy(dir / "scan.npy", "64x64");
  write_config(dir / "run.toml",
               "source = \"file\"\npath = \"" + (dir / "scan.npy").string() + "\"\nrate = 400.0");
  test::Process engine({kTaskset, "-c", "0", STEMFLOW_EXE, "run", (dir / "run.toml").string()},
                       (dir / "engine.log").string());
  std::this_thread::sleep_for(milliseconds(1500));
  engine.signal(SIGTERM);
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = engine.wait(milliseconds(15000));
  const auto log = test::read_text((dir / "engine.log").string());
  ASSERT_EQ(rc, 0) << log;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_TRUE(has(log, "interrupted")) << log;
}

// Spec: two engines connected to one sender (outside an MPI job) are told so plainly: the one that
// received the series start sees its frames dealt out, the other frames without a series.
TEST(TwoReceivers, OneSenderSplitIsNamed) {
  const auto dir = work_dir("two");
  const std::string ep = "tcp://127.0.0.1:" + std::to_string(test::free_port());
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  write_config(dir / "a" / "run.toml", "endpoint = \"" + ep + "\"\nseries_timeout = 2.0");
  write_config(dir / "b" / "run.toml", "endpoint = \"" + ep + "\"\nseries_timeout = 2.0");
  test::Process a({STEMFLOW_EXE, "run", (dir / "a" / "run.toml").string(), "--series", "1"},
                  (dir / "a.log").string());
  test::Process b({STEMFLOW_EXE, "run", (dir / "b" / "run.toml").string(), "--series", "1"},
                  (dir / "b.log").string());
  std::this_thread::sleep_for(milliseconds(500));
  // Paced, so that both receivers are connected before most frames leave.
  test::Process sim({STEMFLOW_SIM_EXE,
                     "synth",
                     "--scan",
                     "32x32",
                     "--frame",
                     "64x64",
                     "--rate",
                     "2000",
                     "--bind",
                     ep},
                    (dir / "sim.log").string());
  EXPECT_EQ(sim.wait(milliseconds(30000)), 0);
  std::this_thread::sleep_for(milliseconds(3000));  // the series times out where no end arrived
  a.signal(SIGTERM);
  b.signal(SIGTERM);
  EXPECT_EQ(a.wait(milliseconds(15000)), 0);
  EXPECT_EQ(b.wait(milliseconds(15000)), 0);
  const auto logs = test::read_text((dir / "a.log").string()) + "\n----\n" +
                    test::read_text((dir / "b.log").string());
  EXPECT_TRUE(has(logs, "another receiver is probably connected to the same sender")) << logs;
  EXPECT_TRUE(has(logs, "it may have taken the series start")) << logs;
}

}  // namespace
