// SPDX-License-Identifier: GPL-3.0-or-later
// One scan across MPI ranks (mpirun -n K stemflow run): the results file of a job equals the file
// of one process, a shared DECTRIS file replays with a rank that gets no frames, a job whose ranks
// disagree does not start, and a rank killed mid-scan ends the job with the file readable.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "ingest/npy.hpp"
#include "tests/sinks/test_dashboard_http.hpp"
#include "tests/support/h5read.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_data.hpp"

using namespace stemflow;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

// Open MPI's mpirun; as root (containers, CI) it wants to be told that this is intended.
std::vector<std::string> mpirun(int ranks) {
  std::vector<std::string> a{STEMFLOW_MPIEXEC, "-n", std::to_string(ranks), "--oversubscribe"};
  if (::geteuid() == 0) a.push_back("--allow-run-as-root");
  // Under make test-sanitize: Open MPI 4.1 leaks what MPI_Init's components allocate, from
  // components it has unloaded by exit, so LeakSanitizer sees stacks of "<unknown module>" that no
  // suppression can name. The ranks run with leak detection off (ASan and UBSan stay on); the same
  // engine, sinks and sources are leak-checked by the single-process tests.
  if (const char* asan = std::getenv("ASAN_OPTIONS")) {
    a.push_back("-x");
    a.push_back(std::string("ASAN_OPTIONS=") + asan + ":detect_leaks=0");
  }
  return a;
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

int sim(const fs::path& dir, const std::vector<std::string>& args) {
  test::Process p(std::vector<std::string>{STEMFLOW_SIM_EXE, "synth"} + args,
                  (dir / "sim.log").string());
  return p.wait(milliseconds(120000));
}

// A 25 x 12 scan of 128 x 128 frames (25 rows: the 3 ranks' shares are 8, 8 and 9 rows) with
// every kind of result: Bragg peaks (template from simulated vacuum frames; FFTW plans estimated,
// so that every process plans alike and the peaks can be compared bit for bit), a virtual image,
// CoM, the mean and max patterns.
void write_scan_config(const fs::path& dir, const fs::path& out, const std::string& extra = "") {
  std::ofstream(dir / "run.toml")
      << "[input]\nsource = \"file\"\npath = \"" << (dir / "scan.npy").string() << "\"\n"
      << "[scan]\nshape = [25, 12]\n"
      << "[pipeline]\nbatch_frames = 8\nthreads = 1\n"
      << "[[operators]]\ntype = \"bragg_disks\"\nname = \"bragg\"\nvacuum = \""
      << (dir / "vacuum.npy").string() << "\"\nsubpixel = \"poly\"\nfft_planner = \"estimate\"\n"
      << "[[operators]]\ntype = \"virtual_image\"\nname = \"adf\"\ndetector = \"annulus\"\n"
      << "center = [64, 64]\nradii = [20, 60]\n"
      << "[[operators]]\ntype = \"center_of_mass\"\nname = \"com\"\n"
      << "[[operators]]\ntype = \"mean_pattern\"\nname = \"mean\"\n"
      << "[[operators]]\ntype = \"max_pattern\"\nname = \"max\"\n"
      << "[outputs.hdf5]\npath = \"" << out.string() << "\"\nif_exists = \"overwrite\"\n"
      << extra;
}

void make_scan(const fs::path& dir) {
  ASSERT_EQ(sim(dir,
                {"--scan",
                 "25x12",
                 "--frame",
                 "128x128",
                 "--seed",
                 "7",
                 "--out",
                 (dir / "scan.npy").string()}),
            0);
  ASSERT_EQ(sim(dir,
                {"--scan",
                 "1x8",
                 "--frame",
                 "128x128",
                 "--vacuum",
                 "--out",
                 (dir / "vacuum.npy").string()}),
            0);
}

// The live peak table has one row per peak in the order results arrived; across ranks that order
// is not the scan order: compare it as a set of rows.
std::vector<std::array<double, 5>> sorted_rows(const std::vector<double>& flat) {
  std::vector<std::array<double, 5>> rows(flat.size() / 5);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::copy_n(flat.begin() + std::ptrdiff_t(5 * i), 5, rows[i].begin());
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

}  // namespace

// Spec: a replay over 3 ranks writes the file one process writes: the virtual image, CoM and
// peak lists identical (bit for bit), the max pattern identical, the mean pattern within 1e-12
// relative (a weighted mean of the ranks' means rounds differently), complete coverage, the
// provenance saying 3 ranks and each rank's frames (all > 0, summing to the scan).
TEST(MpiJob, ReplayOverThreeRanksEqualsOneProcess) {
  const auto dir = test::work_dir("mpi-replay");
  make_scan(dir);
  write_scan_config(dir, dir / "one.h5");
  {
    test::Process one({STEMFLOW_EXE, "run", (dir / "run.toml").string()},
                      (dir / "one.log").string());
    ASSERT_EQ(one.wait(milliseconds(120000)), 0) << test::read_text((dir / "one.log").string());
  }
  write_scan_config(dir, dir / "job.h5");
  test::Process job(
      mpirun(3) + std::vector<std::string>{STEMFLOW_EXE, "run", (dir / "run.toml").string()},
      (dir / "job.log").string());
  ASSERT_EQ(job.wait(milliseconds(180000)), 0) << test::read_text((dir / "job.log").string());

  test::H5File a((dir / "one.h5").string());
  test::H5File b((dir / "job.h5").string());
  for (const std::string map : {"adf", "com_qx", "com_qy", "com_intensity", "bragg_count", "max"}) {
    const auto x = a.doubles("/stemflow/" + map + "/data");
    const auto y = b.doubles("/stemflow/" + map + "/data");
    ASSERT_EQ(x.size(), y.size()) << map;
    for (std::size_t i = 0; i < x.size(); ++i) {
      ASSERT_TRUE(x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i])))
          << map << "[" << i << "]: " << x[i] << " vs " << y[i];
    }
  }
  const auto ma = a.doubles("/stemflow/mean/data");
  const auto mb = b.doubles("/stemflow/mean/data");
  ASSERT_EQ(ma.size(), mb.size());
  for (std::size_t i = 0; i < ma.size(); ++i) {
    ASSERT_NEAR(ma[i], mb[i], 1e-12 * std::max(1.0, std::abs(ma[i]))) << i;
  }
  const auto pa = a.peak_lists("/stemflow/bragg/_v_uncal/data");
  const auto pb = b.peak_lists("/stemflow/bragg/_v_uncal/data");
  ASSERT_EQ(pa.size(), 300u);
  ASSERT_EQ(pa, pb);
  std::size_t peaks = 0;
  for (const auto& p : pa) peaks += p.size();
  EXPECT_GE(peaks, 300u);  // at least the central disk of every frame
  EXPECT_EQ(sorted_rows(a.doubles("/stemflow/bragg_peaks/data")),
            sorted_rows(b.doubles("/stemflow/bragg_peaks/data")));
  const auto coverage = b.bytes("/stemflow/coverage/data");
  EXPECT_EQ(std::count(coverage.begin(), coverage.end(), 1), 300);

  EXPECT_EQ(a.ints("/stemflow/metadatabundle/provenance/mpi_ranks"), std::vector<std::int64_t>{1});
  EXPECT_EQ(b.ints("/stemflow/metadatabundle/provenance/mpi_ranks"), std::vector<std::int64_t>{3});
  const auto per_rank = b.ints("/stemflow/metadatabundle/provenance/frames_per_rank");
  ASSERT_EQ(per_rank.size(), 3u);
  EXPECT_EQ(per_rank, (std::vector<std::int64_t>{8 * 12, 8 * 12, 9 * 12}));
  EXPECT_EQ(b.ints("/stemflow/metadatabundle/provenance/frames_processed"),
            std::vector<std::int64_t>{300});
  EXPECT_EQ(b.ints("/stemflow/metadatabundle/provenance/frames_received"),
            std::vector<std::int64_t>{300});
  test::Process info({STEMFLOW_EXE, "info", (dir / "job.h5").string()},
                     (dir / "info.log").string());
  ASSERT_EQ(info.wait(milliseconds(30000)), 0);
  const auto text = test::read_text((dir / "info.log").string());
  EXPECT_NE(text.find("mpi ranks 3, frames received per rank 96 96 108"), std::string::npos)
      << text;
}

// Spec: a live stream from stemflow-sim (one bound PUSH socket, as a detector has) to 2 ranks,
// each connecting its own PULL socket: ZeroMQ deals the frames, the series' start and end reach
// one rank and the other learns them over MPI; two series in a row (--loop 2). Each series' file
// equals a single-process replay of the same frames (virtual image and CoM bit for bit, the mean
// pattern to 1e-12), complete, and both ranks received frames.
void live_over_two_ranks(const std::string& protocol) {
  const auto dir = test::work_dir("mpi-live-" + protocol);
  ASSERT_EQ(sim(dir,
                {"--scan",
                 "16x24",
                 "--frame",
                 "128x128",
                 "--seed",
                 "9",
                 "--out",
                 (dir / "scan.npy").string()}),
            0);
  const auto ops =
      "[pipeline]\nbatch_frames = 8\nthreads = 1\n"
      "[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\ndetector = \"circle\"\n"
      "center = [64, 64]\nradius = 12\n"
      "[[operators]]\ntype = \"center_of_mass\"\nname = \"com\"\n"
      "[[operators]]\ntype = \"mean_pattern\"\nname = \"mean\"\n";
  std::ofstream(dir / "replay.toml")
      << "[input]\nsource = \"file\"\npath = \"" << (dir / "scan.npy").string() << "\"\n"
      << ops << "[outputs.hdf5]\npath = \"" << (dir / "replay.h5").string() << "\"\n";
  {
    test::Process one({STEMFLOW_EXE, "run", (dir / "replay.toml").string()},
                      (dir / "replay.log").string());
    ASSERT_EQ(one.wait(milliseconds(60000)), 0) << test::read_text((dir / "replay.log").string());
  }
  const int port = test::free_port();
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  std::ofstream(dir / "live.toml")
      << "[input]\nsource = \"zmq\"\nprotocol = \"" << protocol << "\"\nendpoint = \"" << endpoint
      << "\"\nseries_timeout = 10.0\n"
      << ops << "[outputs.hdf5]\npath = \"" << (dir / "live.h5").string() << "\"\n";
  test::Process job(mpirun(2) +
                        std::vector<std::string>{
                            STEMFLOW_EXE, "run", (dir / "live.toml").string(), "--series", "2"},
                    (dir / "job.log").string());
  // The ranks connect to the sender's endpoint; ZeroMQ reconnects until it is bound.
  test::Process sender({STEMFLOW_SIM_EXE,
                        "synth",
                        "--scan",
                        "16x24",
                        "--frame",
                        "128x128",
                        "--seed",
                        "9",
                        "--protocol",
                        protocol,
                        "--loop",
                        "2",
                        "--bind",
                        endpoint},
                       (dir / "sender.log").string());
  ASSERT_EQ(sender.wait(milliseconds(60000)), 0) << test::read_text((dir / "sender.log").string());
  ASSERT_EQ(job.wait(milliseconds(60000)), 0) << test::read_text((dir / "job.log").string());

  test::H5File a((dir / "replay.h5").string());
  std::array<std::int64_t, 2> frames_of_rank{};
  // The second series went to live_1.h5 (outputs.hdf5.if_exists = "rename").
  for (const auto& name : {std::string("live.h5"), std::string("live_1.h5")}) {
    ASSERT_TRUE(fs::exists(dir / name))
        << name << ": " << test::read_text((dir / "job.log").string());
    test::H5File b((dir / name).string());
    for (const std::string map : {"bf", "com_qx", "com_qy", "com_intensity"}) {
      EXPECT_EQ(a.doubles("/stemflow/" + map + "/data"), b.doubles("/stemflow/" + map + "/data"))
          << name << " " << map;
    }
    const auto ma = a.doubles("/stemflow/mean/data");
    const auto mb = b.doubles("/stemflow/mean/data");
    ASSERT_EQ(ma.size(), mb.size());
    for (std::size_t i = 0; i < ma.size(); ++i) {
      ASSERT_NEAR(ma[i], mb[i], 1e-12 * std::max(1.0, std::abs(ma[i]))) << name << " " << i;
    }
    const auto coverage = b.bytes("/stemflow/coverage/data");
    EXPECT_EQ(std::count(coverage.begin(), coverage.end(), 1), 16 * 24) << name;
    EXPECT_EQ(b.ints("/stemflow/metadatabundle/provenance/mpi_ranks"),
              std::vector<std::int64_t>{2});
    // A rank that connects late (ZeroMQ retries every 100 ms) may get none of the first series:
    // the result is complete all the same. By the second series both receive.
    const auto per_rank = b.ints("/stemflow/metadatabundle/provenance/frames_per_rank");
    ASSERT_EQ(per_rank.size(), 2u);
    EXPECT_EQ(per_rank[0] + per_rank[1], 16 * 24) << name;
    for (std::size_t r = 0; r < 2; ++r) frames_of_rank[r] += per_rank[r];
    EXPECT_EQ(b.string("/stemflow/metadatabundle/provenance/series_end"), "complete") << name;
  }
  EXPECT_GT(frames_of_rank[0], 0);
  EXPECT_GT(frames_of_rank[1], 0);
}

TEST(MpiJob, LiveNativeStreamOverTwoRanks) { live_over_two_ranks("native"); }
TEST(MpiJob, LiveDectrisStream2OverTwoRanks) { live_over_two_ranks("dectris-stream2"); }

// Spec: every rank serves its metrics on the configured port + its rank, labelled with its rank;
// a SIGTERM to mpirun (which forwards it, and itself exits non-zero) stops every rank cleanly.
TEST(MpiJob, EachRankServesMetricsWithItsRank) {
  const auto dir = test::work_dir("mpi-metrics");
  const int port = test::free_port();
  std::ofstream(dir / "live.toml")
      << "[input]\nsource = \"zmq\"\nprotocol = \"native\"\n"
      << "endpoint = \"tcp://127.0.0.1:" << test::free_port()
      << "\"\n[outputs.metrics]\nlisten = \"127.0.0.1:" << port << "\"\n";
  test::Process job(
      mpirun(2) + std::vector<std::string>{STEMFLOW_EXE, "run", (dir / "live.toml").string()},
      (dir / "job.log").string());
  for (int rank = 0; rank < 2; ++rank) {
    std::optional<test::HttpResponse> r;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!(r && r->status == 200) && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(milliseconds(100));
      r = test::http_get(port + rank, "/metrics", milliseconds(2000));
    }
    ASSERT_TRUE(r && r->status == 200)
        << "rank " << rank << ": " << test::read_text((dir / "job.log").string());
    const std::string label = "rank=\"" + std::to_string(rank) + "\"";
    EXPECT_NE(r->body.find("stemflow_frames_received_total{" + label + "}"), std::string::npos)
        << r->body.substr(0, 2000);
  }
  job.signal(SIGTERM);
  EXPECT_NE(job.wait(milliseconds(30000)), -1) << "the job did not stop";
  const auto log = test::read_text((dir / "job.log").string());
  EXPECT_NE(log.find("[rank 0] done: 0 series"), std::string::npos) << log;
  EXPECT_NE(log.find("[rank 1] done: 0 series"), std::string::npos) << log;
}

// Spec: a Merlin data port takes one TCP client: a live Merlin input with 2 ranks does not start,
// saying so.
TEST(MpiJob, MerlinWithSeveralRanksIsRefused) {
  const auto dir = test::work_dir("mpi-merlin");
  std::ofstream(dir / "live.toml") << "[input]\nsource = \"zmq\"\nprotocol = \"merlin\"\n"
                                   << "endpoint = \"tcp://127.0.0.1:6342\"\n";
  test::Process job(
      mpirun(2) + std::vector<std::string>{STEMFLOW_EXE, "run", (dir / "live.toml").string()},
      (dir / "job.log").string());
  const int rc = job.wait(milliseconds(60000));
  const auto log = test::read_text((dir / "job.log").string());
  EXPECT_EQ(rc, 2) << log;
  EXPECT_NE(log.find("takes one TCP client"), std::string::npos) << log;
}

// Spec: the live physics over 3 ranks: on the py4DSTEM reference scan, Bragg disks, origin, Bragg
// vector map, strain and DPC written by a 3-rank job equal one process's bit for bit (the scan-wide
// fits and maps are made on rank 0 from the gathered results).
TEST(MpiJob, PhysicsOverThreeRanksEqualsOneProcess) {
  const auto ref = test::shared_dir() / "reference" / "py4dstem-ref-128";
  if (!fs::exists(ref / "data_uint16.raw")) {
    GTEST_SKIP() << "py4DSTEM reference data not found under " << ref
                 << " (set STEMFLOW_SHARED_DIR)";
  }
  const auto dir = test::work_dir("mpi-physics");
  const auto vac = test::read_raw<std::uint16_t>(ref / "vacuum_stack_uint16.raw");
  {
    std::ofstream f(dir / "vacuum.npy", std::ios::binary);
    ingest::write_npy_header(f, Dtype::kU16, {vac.size() / (128 * 128), 128, 128});
    f.write(reinterpret_cast<const char*>(vac.data()),
            static_cast<std::streamsize>(vac.size() * 2));
  }
  const auto write = [&](const std::string& out) {
    std::ofstream(dir / "run.toml")
        << "[input]\nsource = \"file\"\npath = \"" << (ref / "data_uint16.raw").string()
        << "\"\nformat = \"raw\"\nframe_shape = [128, 128]\n[scan]\nshape = [32, 32]\n"
        << "[pipeline]\nbatch_frames = 16\n"
        << "[[operators]]\ntype = \"bragg_disks\"\nname = \"bragg\"\nvacuum = \""
        << (dir / "vacuum.npy").string() << "\"\nsubpixel = \"poly\"\nfft_planner = \"estimate\"\n"
        << "min_peak_spacing = 9.0\nmin_relative_intensity = 0.005\nedge_boundary = 4\n"
        << "[[operators]]\ntype = \"center_of_mass\"\nname = \"com\"\n"
        << "[[operators]]\ntype = \"origin\"\nname = \"origin\"\nbragg = \"bragg\"\n"
        << "[[operators]]\ntype = \"bragg_vector_map\"\nname = \"bvm\"\nbragg = \"bragg\"\n"
        << "origin = \"origin\"\n"
        << "[[operators]]\ntype = \"strain_map\"\nname = \"strain\"\nbragg = \"bragg\"\n"
        << "g1 = [17.92, 2.56]\ng2 = [-5.12, 16.64]\nreference_region = [8, 24, 0, 8]\n"
        << "index_tolerance = 2.0\n"
        << "[[operators]]\ntype = \"dpc\"\nname = \"dpc\"\ncom = \"com\"\n"
        << "[outputs.hdf5]\npath = \"" << (dir / out).string() << "\"\n";
  };
  write("one.h5");
  {
    test::Process one({STEMFLOW_EXE, "run", (dir / "run.toml").string()},
                      (dir / "one.log").string());
    ASSERT_EQ(one.wait(milliseconds(120000)), 0) << test::read_text((dir / "one.log").string());
  }
  write("job.h5");
  test::Process job(
      mpirun(3) + std::vector<std::string>{STEMFLOW_EXE, "run", (dir / "run.toml").string()},
      (dir / "job.log").string());
  ASSERT_EQ(job.wait(milliseconds(180000)), 0) << test::read_text((dir / "job.log").string());
  test::H5File a((dir / "one.h5").string());
  test::H5File b((dir / "job.h5").string());
  for (const std::string name : {"origin_qx0",
                                 "origin_qx0_fit",
                                 "origin_qy0_fit",
                                 "bvm",
                                 "strain_e_xx",
                                 "strain_e_yy",
                                 "strain_e_xy",
                                 "strain_theta",
                                 "strain_num_peaks",
                                 "dpc_phase",
                                 "dpc_ddpc"}) {
    const auto x = a.doubles("/stemflow/" + name + "/data");
    const auto y = b.doubles("/stemflow/" + name + "/data");
    ASSERT_EQ(x.size(), y.size()) << name;
    std::size_t finite = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      ASSERT_TRUE(x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i])))
          << name << "[" << i << "]: " << x[i] << " vs " << y[i];
      finite += std::isfinite(x[i]);
    }
    EXPECT_GT(finite, x.size() / 2) << name;
  }
}

// Spec: a DECTRIS data file (2 frames, one per chunk) replayed by 3 ranks as a 2 x 1 scan: rank 0
// gets no rows and the result is still complete, with the manifest's per-frame sums.
TEST(MpiJob, DectrisFileWithARankThatGetsNoFrames) {
  const auto data = test::shared_dir() / "data" / "dectris";
  if (!fs::exists(data / "MANIFEST.json")) {
    GTEST_SKIP() << "DECTRIS test files not found under " << data << " (set STEMFLOW_SHARED_DIR)";
  }
  const auto dir = test::work_dir("mpi-dectris");
  const std::string name = "eiger2_simread7_2datafiles_4images_bslz4_uint32_data_000002.h5";
  std::ofstream(dir / "run.toml") << "[input]\nsource = \"file\"\npath = \""
                                  << (data / name).string() << "\"\n[scan]\nshape = [2, 1]\n"
                                  << "[[operators]]\ntype = \"virtual_image\"\nname = \"all\"\n"
                                  << "detector = \"rectangle\"\nbounds = [0, 512, 0, 1028]\n"
                                  << "[outputs.hdf5]\npath = \"" << (dir / "out.h5").string()
                                  << "\"\n";
  test::Process job(
      mpirun(3) + std::vector<std::string>{STEMFLOW_EXE, "run", (dir / "run.toml").string()},
      (dir / "job.log").string());
  ASSERT_EQ(job.wait(milliseconds(120000)), 0) << test::read_text((dir / "job.log").string());
  std::ifstream in(data / "MANIFEST.json");
  const auto m = nlohmann::json::parse(in)[name];
  test::H5File f((dir / "out.h5").string());
  const auto sums = f.doubles("/stemflow/all/data");
  ASSERT_EQ(sums.size(), 2u);
  EXPECT_EQ(sums[0], m["sum_per_frame"][0].get<double>());
  EXPECT_EQ(sums[1], m["sum_per_frame"][1].get<double>());
  EXPECT_EQ(f.ints("/stemflow/metadatabundle/provenance/frames_per_rank"),
            (std::vector<std::int64_t>{0, 1, 1}));
}

// Spec: ranks given different configurations (here an MPMD launch with another --set on rank 1)
// do not start: every rank exits non-zero and the log names rank 1; no results file is written.
TEST(MpiJob, RanksWithDifferentConfigurationsDoNotStart) {
  const auto dir = test::work_dir("mpi-differ");
  make_scan(dir);
  write_scan_config(dir, dir / "job.h5");
  const std::string cfg = (dir / "run.toml").string();
  auto argv = mpirun(1) + std::vector<std::string>{STEMFLOW_EXE,
                                                   "run",
                                                   cfg,
                                                   ":",
                                                   "-n",
                                                   "1",
                                                   STEMFLOW_EXE,
                                                   "run",
                                                   cfg,
                                                   "--set",
                                                   "pipeline.batch_frames=4"};
  test::Process job(argv, (dir / "job.log").string());
  const int rc = job.wait(milliseconds(60000));
  const auto log = test::read_text((dir / "job.log").string());
  EXPECT_NE(rc, 0) << log;
  EXPECT_NE(rc, -1) << "the job hung: " << log;
  EXPECT_NE(log.find("differs from rank 0's on rank(s) 1"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(dir / "job.h5"));
}

// Spec: a job whose file cannot be opened exits 2 on every rank with the reason, no hang.
TEST(MpiJob, MissingFileFailsTheWholeJob) {
  const auto dir = test::work_dir("mpi-missing");
  write_scan_config(dir, dir / "job.h5");
  test::Process job(
      mpirun(2) + std::vector<std::string>{STEMFLOW_EXE, "run", (dir / "run.toml").string()},
      (dir / "job.log").string());
  const int rc = job.wait(milliseconds(60000));
  const auto log = test::read_text((dir / "job.log").string());
  EXPECT_EQ(rc, 2) << log;
  EXPECT_NE(log.find("rank 1:"), std::string::npos) << log;
  EXPECT_NE(log.find("the job does not start"), std::string::npos) << log;
}

// Spec: a rank killed (SIGKILL) mid-scan ends the job within 30 s with a non-zero exit and a
// message naming the rank; the results file opens (SWMR read, as `stemflow info` does) and holds
// the rows flushed before.
TEST(MpiJob, KilledRankEndsTheJobAndTheFileOpens) {
  const auto dir = test::work_dir("mpi-kill");
  make_scan(dir);
  // Paced at 40 frames/s per rank: the scan takes ~3 s, so the kill lands mid-scan.
  write_scan_config(dir, dir / "job.h5", "flush_interval = 0.2\n");
  test::Process job(
      mpirun(3) +
          std::vector<std::string>{
              STEMFLOW_EXE, "run", (dir / "run.toml").string(), "--set", "input.rate=40"},
      (dir / "job.log").string());
  // Find rank 1 among this machine's processes by the rank variable its launcher set.
  pid_t victim = -1;
  const auto t0 = std::chrono::steady_clock::now();
  while (victim < 0 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30)) {
    for (const auto& e : fs::directory_iterator("/proc")) {
      const auto name = e.path().filename().string();
      if (!std::all_of(name.begin(), name.end(), ::isdigit)) continue;
      std::ifstream env(e.path() / "environ", std::ios::binary);
      std::stringstream ss;
      ss << env.rdbuf();
      const auto text = ss.str();
      if (text.find(std::string("OMPI_COMM_WORLD_RANK=1") + '\0') != std::string::npos) {
        std::ifstream cmd(e.path() / "cmdline", std::ios::binary);
        std::stringstream cs;
        cs << cmd.rdbuf();
        if (cs.str().find((dir / "run.toml").string()) != std::string::npos) {
          victim = static_cast<pid_t>(std::stoi(name));
        }
      }
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_GT(victim, 0) << "rank 1 not found";
  // Mid-scan: once the file shows rows. Counted from the file's creation, not from the start: a
  // slow start (make test-sanitize, a loaded machine) took longer than a fixed 2.5 s, and the
  // rank was killed before rank 0 had made the file.
  const auto t1 = std::chrono::steady_clock::now();
  while (!fs::exists(dir / "job.h5") &&
         std::chrono::steady_clock::now() - t1 < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(fs::exists(dir / "job.h5")) << test::read_text((dir / "job.log").string());
  std::this_thread::sleep_for(milliseconds(1000));
  ::kill(victim, SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  const int rc = job.wait(milliseconds(30000));
  const auto log = test::read_text((dir / "job.log").string());
  EXPECT_NE(rc, -1) << "the job did not end within 30 s of the kill: " << log;
  EXPECT_NE(rc, 0) << log;
  EXPECT_LT(std::chrono::steady_clock::now() - killed, std::chrono::seconds(30));
  EXPECT_NE(log.find("rank 1"), std::string::npos) << log;
  test::Process info({STEMFLOW_EXE, "info", (dir / "job.h5").string()},
                     (dir / "info.log").string());
  ASSERT_EQ(info.wait(milliseconds(30000)), 0) << test::read_text((dir / "info.log").string());
  const auto text = test::read_text((dir / "info.log").string());
  EXPECT_NE(text.find("coverage"), std::string::npos) << text;
  EXPECT_EQ(text.find("coverage 0 of"), std::string::npos) << "nothing was flushed: " << text;
}
