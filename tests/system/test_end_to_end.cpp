// SPDX-License-Identifier: GPL-3.0-or-later
// stemflow-sim -> stemflow over loopback TCP -> HDF5, checked against a direct computation on the
// same frames (the simulator writes them to .npy with the same seed).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "ingest/npy.hpp"
#include "tests/support/h5read.hpp"
#include "tests/support/process.hpp"

using namespace stemflow;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

constexpr std::uint32_t kScan = 32;
constexpr std::uint32_t kQ = 128;

struct Scan {
  std::vector<std::uint16_t> px;  // (rx, ry, qx, qy)
  const std::uint16_t* frame(std::size_t i) const { return px.data() + i * kQ * kQ; }
};

Scan write_and_load(const fs::path& dir, int seed) {
  const auto npy = (dir / "scan.npy").string();
  test::Process sim({STEMFLOW_SIM_EXE,
                     "synth",
                     "--scan",
                     "32x32",
                     "--frame",
                     "128x128",
                     "--seed",
                     std::to_string(seed),
                     "--out",
                     npy},
                    (dir / "sim-out.log").string());
  EXPECT_EQ(sim.wait(milliseconds(60000)), 0);
  auto h = ingest::read_npy_header(npy);
  EXPECT_TRUE(h.has_value());
  Scan s;
  s.px.resize(h->count());
  std::ifstream f(npy, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(h->data_offset));
  f.read(reinterpret_cast<char*>(s.px.data()), static_cast<std::streamsize>(s.px.size() * 2));
  return s;
}

void write_config(const fs::path& path,
                  int port,
                  const fs::path& out,
                  const std::string& extra = "") {
  std::ofstream(path) << "[input]\nendpoint = \"tcp://127.0.0.1:" << port << "\"\n"
                      << "series_timeout = 5.0\n"
                      << "[pipeline]\nbatch_frames = 16\nmemory_limit = \"4MiB\"\n"
                      << "[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\n"
                      << "detector = \"circle\"\ncenter = [64.3, 63.8]\nradius = 6.5\n"
                      << "[[operators]]\ntype = \"virtual_image\"\nname = \"adf\"\n"
                      << "detector = \"annulus\"\ncenter = [64.3, 63.8]\nradii = [9.0, 27.0]\n"
                      << "[[operators]]\ntype = \"virtual_image\"\nname = \"rect\"\n"
                      << "detector = \"rectangle\"\nbounds = [32, 64, 32, 96]\n"
                      << "[[operators]]\ntype = \"center_of_mass\"\nname = \"com\"\n"
                      << "[outputs.hdf5]\npath = \"" << out.string() << "\"\n"
                      << extra;
}

//! The direct computation, written independently of the operators: dense 0/1 masks, exact sums.
struct Direct {
  std::vector<double> bf, adf, rect, com_qx, com_qy, com_i;
};

Direct direct(const Scan& s) {
  Direct d;
  for (std::size_t n = 0; n < kScan * kScan; ++n) {
    const auto* f = s.frame(n);
    std::uint64_t bf = 0, adf = 0, rect = 0, sum = 0, sx = 0, sy = 0;
    for (std::uint32_t i = 0; i < kQ; ++i) {
      for (std::uint32_t j = 0; j < kQ; ++j) {
        const std::uint64_t v = f[i * kQ + j];
        const double r2 = (i - 64.3) * (i - 64.3) + (j - 63.8) * (j - 63.8);
        if (r2 < 6.5 * 6.5) bf += v;
        if (r2 > 9.0 * 9.0 && r2 < 27.0 * 27.0) adf += v;
        if (i >= 32 && i < 64 && j >= 32 && j < 96) rect += v;
        sum += v;
        sx += v * i;
        sy += v * j;
      }
    }
    d.bf.push_back(double(bf));
    d.adf.push_back(double(adf));
    d.rect.push_back(double(rect));
    d.com_i.push_back(double(sum));
    d.com_qx.push_back(double(sx) / double(sum));
    d.com_qy.push_back(double(sy) / double(sum));
  }
  return d;
}

//! Scan positions covered so far, read as a SWMR reader would while the engine writes.
long covered_now(const std::string& path, std::size_t scan_size = kScan * kScan) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
  if (f < 0) return -1;
  const hid_t ds = H5Dopen2(f, "/stemflow/coverage/data", H5P_DEFAULT);
  std::vector<std::uint8_t> c(scan_size);
  const herr_t r = H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data());
  H5Dclose(ds);
  H5Fclose(f);
  if (r < 0) return -1;
  return std::count(c.begin(), c.end(), 1);
}

}  // namespace

// Spec: a 32x32 scan streamed over loopback gives virtual images and CoM equal bit for bit to a
// direct computation, full coverage, and provenance that accounts for every frame.
TEST(EndToEnd, StreamedScanMatchesDirectComputation) {
  const auto dir = test::work_dir("e2e");
  const Scan scan = write_and_load(dir, 42);
  const int port = test::free_port();
  const auto out = dir / "result.h5";
  write_config(dir / "run.toml", port, out);
  test::Process engine({STEMFLOW_EXE, "run", (dir / "run.toml").string(), "--series", "1"},
                       (dir / "engine.log").string());
  test::Process sim({STEMFLOW_SIM_EXE,
                     "synth",
                     "--scan",
                     "32x32",
                     "--frame",
                     "128x128",
                     "--seed",
                     "42",
                     "--bind",
                     "tcp://127.0.0.1:" + std::to_string(port)},
                    (dir / "sim.log").string());
  ASSERT_EQ(sim.wait(milliseconds(60000)), 0) << test::read_text((dir / "sim.log").string());
  ASSERT_EQ(engine.wait(milliseconds(60000)), 0) << test::read_text((dir / "engine.log").string());

  test::H5File f(out.string());
  EXPECT_EQ(f.attr("/", "emd_group_type"), "file");
  EXPECT_EQ(f.attr("/stemflow", "python_class"), "Root");
  EXPECT_EQ(f.attr("/stemflow/bf", "python_class"), "VirtualImage");
  const Direct d = direct(scan);
  EXPECT_EQ(f.doubles("/stemflow/bf/data"), d.bf);
  EXPECT_EQ(f.doubles("/stemflow/adf/data"), d.adf);
  EXPECT_EQ(f.doubles("/stemflow/rect/data"), d.rect);
  EXPECT_EQ(f.doubles("/stemflow/com_intensity/data"), d.com_i);
  EXPECT_EQ(f.doubles("/stemflow/com_qx/data"), d.com_qx);
  EXPECT_EQ(f.doubles("/stemflow/com_qy/data"), d.com_qy);
  EXPECT_EQ(f.bytes("/stemflow/coverage/data"), std::vector<std::uint8_t>(kScan * kScan, 1));
  const std::string prov = "/stemflow/metadatabundle/provenance/";
  EXPECT_EQ(f.ints(prov + "frames_received")[0], 1024);
  EXPECT_EQ(f.ints(prov + "frames_processed")[0], 1024);
  EXPECT_EQ(f.ints(prov + "frames_missing")[0], 0);
  EXPECT_EQ(f.string(prov + "series_end"), "complete");
  EXPECT_NE(f.string(prov + "config_toml").find("bf"), std::string::npos);
}

// Spec: SIGINT mid-scan drains what was received, writes the file and exits 0; the coverage mask
// shows exactly the frames that made it, and their values are right.
TEST(EndToEnd, SigintWritesWhatWasReceived) {
  const auto dir = test::work_dir("sigint");
  const Scan scan = write_and_load(dir, 5);
  const int port = test::free_port();
  const auto out = dir / "partial.h5";
  write_config(dir / "run.toml", port, out, "flush_interval = 0.1\n");
  test::Process engine({STEMFLOW_EXE, "run", (dir / "run.toml").string()},
                       (dir / "engine.log").string());
  test::Process sim({STEMFLOW_SIM_EXE,
                     "synth",
                     "--scan",
                     "32x32",
                     "--frame",
                     "128x128",
                     "--seed",
                     "5",
                     "--rate",
                     "500",
                     "--linger-ms",
                     "0",
                     "--bind",
                     "tcp://127.0.0.1:" + std::to_string(port)},
                    (dir / "sim.log").string());
  // Interrupt once the results show part of the scan (however loaded the machine is).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (covered_now(out.string()) < 100 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  engine.signal(SIGINT);
  ASSERT_EQ(engine.wait(milliseconds(20000)), 0) << test::read_text((dir / "engine.log").string());
  sim.signal(SIGKILL);

  test::H5File f(out.string());
  const auto coverage = f.bytes("/stemflow/coverage/data");
  const auto bf = f.doubles("/stemflow/bf/data");
  const Direct d = direct(scan);
  std::size_t covered = 0;
  for (std::size_t i = 0; i < coverage.size(); ++i) {
    if (coverage[i]) {
      ++covered;
      EXPECT_EQ(bf[i], d.bf[i]) << i;
    } else {
      EXPECT_TRUE(std::isnan(bf[i])) << i;
    }
  }
  EXPECT_GT(covered, 100u);
  EXPECT_LT(covered, 1024u);
  const std::string prov = "/stemflow/metadatabundle/provenance/";
  EXPECT_EQ(f.string(prov + "series_end"), "interrupted");
  EXPECT_EQ(std::size_t(f.ints(prov + "frames_processed")[0]), covered);
  EXPECT_EQ(f.ints(prov + "frames_received")[0], f.ints(prov + "frames_processed")[0]);
}

// Spec: a second SIGINT cuts the results short: stemflow exits with 130 within about two seconds,
// and the file opens with a plain reader (not only SWMR), holding the rows processed so far, the
// provenance saying cut_short and the frame counts. The first SIGINT must still be busy when the
// second comes: a Bragg disk finder on two threads is slower than a file replayed at full speed, so
// the drain after the first signal has a full queue to work through.
TEST(EndToEnd, SecondSigintCutsShortAndLeavesAPlainReadableFile) {
  const auto dir = test::work_dir("sigint_twice");
  constexpr std::uint32_t kRows = 64, kCols = 64;
  const auto npy = (dir / "scan.npy").string();
  test::Process synth({STEMFLOW_SIM_EXE,
                       "synth",
                       "--scan",
                       "64x64",
                       "--frame",
                       "128x128",
                       "--seed",
                       "9",
                       "--out",
                       npy},
                      (dir / "synth.log").string());
  ASSERT_EQ(synth.wait(milliseconds(120000)), 0) << test::read_text((dir / "synth.log").string());
  const int port = test::free_port();
  const auto out = dir / "cut.h5";
  std::ofstream(dir / "run.toml") << "[input]\nendpoint = \"tcp://127.0.0.1:" << port << "\"\n"
                                  << "[pipeline]\nbatch_frames = 16\nmemory_limit = \"4MiB\"\n"
                                  << "threads = 2\n"
                                  << "[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\n"
                                  << "detector = \"circle\"\ncenter = [64.3, 63.8]\nradius = 6.5\n"
                                  << "[[operators]]\ntype = \"center_of_mass\"\nname = \"com\"\n"
                                  << "[[operators]]\ntype = \"bragg_disks\"\nname = \"bragg\"\n"
                                  << "template = \"none\"\n"
                                  << "[outputs.hdf5]\npath = \"" << out.string() << "\"\n"
                                  << "flush_interval = 0.1\n";
  test::Process engine({STEMFLOW_EXE, "run", (dir / "run.toml").string()},
                       (dir / "engine.log").string());
  test::Process sim({STEMFLOW_SIM_EXE,
                     "replay",
                     npy,
                     "--protocol",
                     "native",
                     "--bind",
                     "tcp://127.0.0.1:" + std::to_string(port)},
                    (dir / "sim.log").string());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (covered_now(out.string(), kRows * kCols) < 100 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  engine.signal(SIGINT);
  std::this_thread::sleep_for(milliseconds(200));
  const auto t0 = std::chrono::steady_clock::now();
  engine.signal(SIGINT);
  const int rc = engine.wait(milliseconds(20000));
  const auto took = std::chrono::steady_clock::now() - t0;
  sim.signal(SIGKILL);
  fs::remove(npy);
  const auto log = test::read_text((dir / "engine.log").string());
  ASSERT_NE(log.find("second signal"), std::string::npos)
      << "the first signal's stop was over before the second came\n"
      << log;
  EXPECT_EQ(rc, 130) << log;
  EXPECT_LT(took, std::chrono::milliseconds(3000)) << log;

  // What h5py.File(path) and py4DSTEM do: no SWMR flag. A file left marked open fails here.
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t plain = H5Fopen(out.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(plain, 0) << "the results file opens only in SWMR mode\n" << log;
  H5Fclose(plain);
  test::H5File f(out.string());
  const std::string prov = "/stemflow/metadatabundle/provenance/";
  EXPECT_EQ(f.string(prov + "series_end"), "cut_short");
  const auto coverage = f.bytes("/stemflow/coverage/data");
  const auto bf = f.doubles("/stemflow/bf/data");
  const long covered = std::count(coverage.begin(), coverage.end(), 1);
  EXPECT_GT(covered, 0);
  EXPECT_LT(covered, long(kRows * kCols));
  for (std::size_t i = 0; i < coverage.size(); ++i) {
    EXPECT_EQ(std::isnan(bf[i]), coverage[i] == 0) << i;
  }
  const auto processed = f.ints(prov + "frames_processed")[0];
  EXPECT_EQ(processed, covered);
  // Nothing was dropped: every frame received was either processed or cut short.
  EXPECT_EQ(f.ints(prov + "frames_received")[0], processed + f.ints(prov + "frames_cut_short")[0]);
  EXPECT_EQ(f.ints(prov + "frames_missing")[0], long(kRows * kCols) - processed);
  // The live peak table is there; the BraggVectors, which take time in proportion to the scan,
  // are left out of a series cut short.
  EXPECT_TRUE(f.exists("/stemflow/bragg_peaks/data"));
  EXPECT_FALSE(f.exists("/stemflow/bragg/_v_uncal"));
}

// Edge case: a configuration error is reported with its line and exit code 2, before any socket.
TEST(EndToEnd, BadConfigurationExitsWithTwo) {
  const auto dir = test::work_dir("badconfig");
  std::ofstream(dir / "bad.toml") << "[pipeline]\nbatch_frames = \"lots\"\n";
  test::Process engine({STEMFLOW_EXE, "validate", (dir / "bad.toml").string()},
                       (dir / "engine.log").string());
  EXPECT_EQ(engine.wait(milliseconds(10000)), 2);
  const auto log = test::read_text((dir / "engine.log").string());
  EXPECT_NE(log.find("bad.toml:2"), std::string::npos) << log;
}

// Spec: the file can be opened while the scan runs and grows; after kill -9 it is still readable
// and holds every row flushed before the kill.
TEST(EndToEnd, FileGrowsDuringTheScanAndSurvivesKill9) {
  const auto dir = test::work_dir("live");
  const int port = test::free_port();
  const auto out = dir / "live.h5";
  write_config(dir / "run.toml", port, out, "flush_interval = 0.2\n");
  test::Process engine({STEMFLOW_EXE, "run", (dir / "run.toml").string()},
                       (dir / "engine.log").string());
  test::Process sim({STEMFLOW_SIM_EXE,
                     "synth",
                     "--scan",
                     "32x32",
                     "--frame",
                     "128x128",
                     "--rate",
                     "250",
                     "--linger-ms",
                     "0",
                     "--bind",
                     "tcp://127.0.0.1:" + std::to_string(port)},
                    (dir / "sim.log").string());
  std::vector<long> seen;
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(milliseconds(700));
    seen.push_back(covered_now(out.string()));
  }
  engine.signal(SIGKILL);
  engine.wait(milliseconds(5000));
  sim.signal(SIGKILL);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_GT(seen[1], 0) << "nothing visible to a reader during the scan";
  EXPECT_GT(seen[3], seen[1]) << "the file did not grow";
  EXPECT_LT(seen[3], long(kScan * kScan));
  const long after_kill = covered_now(out.string());
  EXPECT_GE(after_kill, seen[3]) << "the killed engine's file lost flushed rows";
  // A killed SWMR writer leaves the file marked as open for writing: SWMR readers (h5py with
  // swmr=True) open it as it is; `h5clear -s` clears the mark for every other reader.
  test::Process clear({"/usr/bin/h5clear", "-s", out.string()}, (dir / "h5clear.log").string());
  ASSERT_EQ(clear.wait(milliseconds(10000)), 0) << test::read_text((dir / "h5clear.log").string());
  test::H5File f(out.string());
  EXPECT_EQ(f.string("/stemflow/metadatabundle/provenance/input").rfind("native", 0), 0u);
  const auto coverage = f.bytes("/stemflow/coverage/data");
  EXPECT_EQ(std::count(coverage.begin(), coverage.end(), 1), after_kill);
}

// Spec: `stemflow info` on a results file stemflow wrote describes it (scan, frames, operators,
// coverage, counts) instead of taking it for a raw data file.
TEST(EndToEnd, InfoDescribesAResultsFile) {
  const auto dir = test::work_dir("e2e-info");
  const auto npy = (dir / "scan.npy").string();
  test::Process sim({STEMFLOW_SIM_EXE,
                     "synth",
                     "--scan",
                     "8x12",
                     "--frame",
                     "32x32",
                     "--seed",
                     "9",
                     "--out",
                     npy},
                    (dir / "sim.log").string());
  ASSERT_EQ(sim.wait(milliseconds(60000)), 0);
  const auto out = dir / "result.h5";
  std::ofstream(dir / "run.toml") << "[input]\nsource = \"file\"\npath = \"" << npy << "\"\n"
                                  << "[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\n"
                                  << "detector = \"circle\"\ncenter = [16.0, 16.0]\nradius = 4.0\n"
                                  << "[outputs.hdf5]\npath = \"" << out.string() << "\"\n";
  test::Process run({STEMFLOW_EXE, "run", (dir / "run.toml").string()}, (dir / "run.log").string());
  ASSERT_EQ(run.wait(milliseconds(60000)), 0) << test::read_text((dir / "run.log").string());
  test::Process info({STEMFLOW_EXE, "info", out.string()}, (dir / "info.log").string());
  ASSERT_EQ(info.wait(milliseconds(30000)), 0);
  const auto text = test::read_text((dir / "info.log").string());
  for (const char* want : {"stemflow results file",
                           "ended end_of_file",
                           "scan 8x12",
                           "frames 32x32 u16",
                           "coverage 96 of 96 positions",
                           "operator bf (virtual_image)",
                           "frames_processed 96"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  }
}
