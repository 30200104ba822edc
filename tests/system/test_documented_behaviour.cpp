// SPDX-License-Identifier: GPL-3.0-or-later
// Documented behaviour of `stemflow run` that had no test of its own (issue 13 item 7), each end to
// end through the executable: operator_error counting, max_pattern, a .npy mask from the
// configuration, `stemflow probe` and `template =`, `vacuum_frames` from the replayed file,
// `input.bind` (the engine binds, the sender connects) and `input.rate` (a paced replay).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "ingest/npy.hpp"
#include "tests/support/h5read.hpp"
#include "tests/support/process.hpp"

using namespace stemflow;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

constexpr std::uint32_t kScan = 6;  // 6 x 6 scan
constexpr std::uint32_t kQ = 24;    // of 24 x 24 frames

template <class T>
void write_npy(const fs::path& path,
               Dtype dtype,
               const std::vector<std::uint64_t>& shape,
               const std::vector<T>& values) {
  std::ofstream f(path, std::ios::binary);
  ingest::write_npy_header(f, dtype, shape);
  f.write(reinterpret_cast<const char*>(values.data()),
          static_cast<std::streamsize>(values.size() * sizeof(T)));
}

// A float32 scan with a known pattern: pixel (q, r) of frame n is (n + 1) * (q + 2 r) / 100.
std::vector<float> make_scan() {
  std::vector<float> v(std::size_t{kScan} * kScan * kQ * kQ);
  for (std::size_t n = 0; n < std::size_t{kScan} * kScan; ++n)
    for (std::size_t q = 0; q < kQ; ++q)
      for (std::size_t r = 0; r < kQ; ++r)
        v[(n * kQ + q) * kQ + r] = float(double(n + 1) * double(q + 2 * r) / 100.0);
  return v;
}

int run(const fs::path& dir, const std::string& tag, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> a{STEMFLOW_EXE, "run", (dir / (tag + ".toml")).string()};
  a.insert(a.end(), extra.begin(), extra.end());
  test::Process p(a, (dir / (tag + ".log")).string());
  return p.wait(milliseconds(120000));
}

}  // namespace

// Spec: a frame an operator cannot process (a float frame holding NaN) is dropped with reason
// operator_error: NaN in that operator's map, counted in the provenance's
// frames_dropped_operator_error and the operator's frames_failed; the other frames' values are
// kept. The max pattern is the pixel-wise maximum of the frames (NaN frames left out), a .npy
// mask from the configuration weights each pixel, and CoM inside a detector region sums only there.
TEST(DocumentedBehaviour, OperatorErrorsMaxPatternAndANpyMask) {
  const auto dir = test::work_dir("documented-operators");
  auto scan = make_scan();
  const std::vector<std::size_t> bad = {4, 17, 30};
  // NaN inside the mask's column (5, 11): both operators read that pixel.
  for (auto n : bad) scan[n * kQ * kQ + 5 * kQ + 11] = std::numeric_limits<float>::quiet_NaN();
  write_npy(dir / "scan.npy", Dtype::kF32, {kScan, kScan, kQ, kQ}, scan);
  std::vector<float> mask(std::size_t{kQ} * kQ, 0.0f);
  for (std::size_t q = 3; q < 9; ++q) mask[q * kQ + 11] = float(q) * 0.5f;  // a weighted column
  write_npy(dir / "mask.npy", Dtype::kF32, {kQ, kQ}, mask);
  std::ofstream(dir / "run.toml") << "[input]\nsource = \"file\"\npath = \""
                                  << (dir / "scan.npy").string() << "\"\n"
                                  << "[[operators]]\ntype = \"virtual_image\"\nname = \"m\"\n"
                                  << "detector = \"mask\"\nmask = \"mask.npy\"\n"
                                  << "[[operators]]\ntype = \"max_pattern\"\nname = \"max\"\n"
                                  << "[[operators]]\ntype = \"center_of_mass\"\nname = \"com\"\n"
                                  << "detector = \"circle\"\ncenter = [15, 15]\nradius = 4.5\n"
                                  << "[outputs.hdf5]\npath = \"" << (dir / "out.h5").string()
                                  << "\"\n";
  ASSERT_EQ(run(dir, "run"), 0) << test::read_text((dir / "run.log").string());
  test::H5File f((dir / "out.h5").string());
  const auto m = f.doubles("/stemflow/m/data");
  ASSERT_EQ(m.size(), std::size_t{kScan} * kScan);
  for (std::size_t n = 0; n < m.size(); ++n) {
    if (std::find(bad.begin(), bad.end(), n) != bad.end()) {
      EXPECT_TRUE(std::isnan(m[n])) << n;
      continue;
    }
    double want = 0;
    for (std::size_t p = 0; p < mask.size(); ++p) want += double(mask[p]) * scan[n * kQ * kQ + p];
    EXPECT_NEAR(m[n], want, 1e-9 * std::abs(want)) << n;
  }
  EXPECT_EQ(f.ints("/stemflow/metadatabundle/provenance/frames_dropped_operator_error"),
            std::vector<std::int64_t>{3});
  EXPECT_EQ(f.ints("/stemflow/metadatabundle/operator_m/frames_failed"),
            std::vector<std::int64_t>{3});
  // CoM inside a detector region: the circle of radius 4.5 around (15, 15) (no pixel on its edge;
  // the NaN pixel (5, 11) is outside it, so every frame has a CoM).
  const auto cqx = f.doubles("/stemflow/com_qx/data");
  const auto cqy = f.doubles("/stemflow/com_qy/data");
  const auto ci = f.doubles("/stemflow/com_intensity/data");
  for (std::size_t n = 0; n < std::size_t{kScan} * kScan; ++n) {
    double s = 0, sq = 0, sr = 0;
    for (std::size_t q = 0; q < kQ; ++q) {
      for (std::size_t r = 0; r < kQ; ++r) {
        const double dq = double(q) - 15, dr = double(r) - 15;
        if (dq * dq + dr * dr > 4.5 * 4.5) continue;
        const double v = scan[(n * kQ + q) * kQ + r];
        s += v;
        sq += v * double(q);
        sr += v * double(r);
      }
    }
    EXPECT_NEAR(ci[n], s, 1e-9 * s) << n;
    EXPECT_NEAR(cqx[n], sq / s, 1e-9) << n;
    EXPECT_NEAR(cqy[n], sr / s, 1e-9) << n;
  }
  const auto mx = f.doubles("/stemflow/max/data");
  ASSERT_EQ(mx.size(), std::size_t{kQ} * kQ);
  for (std::size_t p = 0; p < mx.size(); ++p) {
    double want = -std::numeric_limits<double>::infinity();
    for (std::size_t n = 0; n < std::size_t{kScan} * kScan; ++n) {
      if (std::find(bad.begin(), bad.end(), n) == bad.end()) {
        want = std::max(want, double(scan[n * kQ * kQ + p]));
      }
    }
    EXPECT_EQ(mx[p], want) << p;
  }
}

// Spec: `stemflow probe` writes the correlation kernel a bragg_disks operator builds from its
// vacuum frames; `template = ` that kernel gives the peaks the vacuum gives; `vacuum_frames` takes
// the vacuum from the replayed file's own positions and gives them too when those frames are the
// same vacuum.
TEST(DocumentedBehaviour, ProbeTemplateAndVacuumFrames) {
  const auto dir = test::work_dir("documented-probe");
  for (const auto& [out, args] :
       {std::pair<std::string, std::vector<std::string>>{"scan.npy", {"--scan", "4x4"}},
        {"vacuum.npy", {"--scan", "1x4", "--vacuum"}}}) {
    std::vector<std::string> a{
        STEMFLOW_SIM_EXE, "synth", "--frame", "128x128", "--out", (dir / out).string()};
    a.insert(a.end(), args.begin(), args.end());
    test::Process sim(a, (dir / "sim.log").string());
    ASSERT_EQ(sim.wait(milliseconds(60000)), 0);
  }
  const auto write =
      [&](const std::string& tag, const std::string& input, const std::string& probe) {
        std::ofstream(dir / (tag + ".toml"))
            << "[input]\nsource = \"file\"\npath = \"" << (dir / input).string() << "\"\n"
            << "[[operators]]\ntype = \"bragg_disks\"\nname = \"bragg\"\nsubpixel = \"poly\"\n"
            << "fft_planner = \"estimate\"\nmin_relative_intensity = 0.0001\n"
            << probe << "[outputs.hdf5]\npath = \"" << (dir / (tag + ".h5")).string() << "\"\n";
      };
  write("vacuum", "scan.npy", "vacuum = \"vacuum.npy\"\n");
  ASSERT_EQ(run(dir, "vacuum"), 0) << test::read_text((dir / "vacuum.log").string());
  {
    test::Process probe({STEMFLOW_EXE,
                         "probe",
                         (dir / "vacuum.toml").string(),
                         "--out",
                         (dir / "kernel.npy").string()},
                        (dir / "probe.log").string());
    ASSERT_EQ(probe.wait(milliseconds(60000)), 0) << test::read_text((dir / "probe.log").string());
  }
  const auto h = ingest::read_npy_header((dir / "kernel.npy").string());
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->shape, (std::vector<std::uint64_t>{128, 128}));
  write("template", "scan.npy", "template = \"kernel.npy\"\n");
  ASSERT_EQ(run(dir, "template"), 0) << test::read_text((dir / "template.log").string());

  // The vacuum frames appended to the scan as its last row: vacuum_frames = [16, 20].
  {
    std::ifstream a(dir / "scan.npy", std::ios::binary), b(dir / "vacuum.npy", std::ios::binary);
    const auto ha = ingest::read_npy_header((dir / "scan.npy").string());
    const auto hb = ingest::read_npy_header((dir / "vacuum.npy").string());
    ASSERT_TRUE(ha && hb);
    std::vector<char> pa(ha->count() * 2), pb(hb->count() * 2);
    a.seekg(std::streamoff(ha->data_offset));
    a.read(pa.data(), std::streamsize(pa.size()));
    b.seekg(std::streamoff(hb->data_offset));
    b.read(pb.data(), std::streamsize(pb.size()));
    std::ofstream c(dir / "with_vacuum.npy", std::ios::binary);
    ingest::write_npy_header(c, Dtype::kU16, {5, 4, 128, 128});
    c.write(pa.data(), std::streamsize(pa.size()));
    c.write(pb.data(), std::streamsize(pb.size()));
  }
  write("frames", "with_vacuum.npy", "vacuum_frames = [16, 20]\n");
  ASSERT_EQ(run(dir, "frames"), 0) << test::read_text((dir / "frames.log").string());

  test::H5File v((dir / "vacuum.h5").string());
  test::H5File t((dir / "template.h5").string());
  test::H5File fr((dir / "frames.h5").string());
  const auto pv = v.peak_lists("/stemflow/bragg/_v_uncal/data");
  const auto pt = t.peak_lists("/stemflow/bragg/_v_uncal/data");
  const auto pf = fr.peak_lists("/stemflow/bragg/_v_uncal/data");
  ASSERT_EQ(pv.size(), 16u);
  ASSERT_EQ(pf.size(), 20u);
  std::size_t peaks = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    peaks += pv[i].size();
    ASSERT_EQ(pv[i].size(), pt[i].size()) << i;
    ASSERT_EQ(pv[i].size(), pf[i].size()) << i;
    for (std::size_t k = 0; k < pv[i].size(); ++k) {
      for (int c = 0; c < 2; ++c) {
        // The kernel file holds the float64 kernel the vacuum gave: the same peaks.
        EXPECT_NEAR(pt[i][k][c], pv[i][k][c], 1e-9) << i << "/" << k;
        EXPECT_NEAR(pf[i][k][c], pv[i][k][c], 1e-9) << i << "/" << k;
      }
    }
  }
  EXPECT_GE(peaks, 16u);
}

// Spec: input.bind = true: the engine binds the endpoint and the sender connects to it.
TEST(DocumentedBehaviour, InputBindLetsTheSenderConnect) {
  const auto dir = test::work_dir("documented-bind");
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(test::free_port());
  std::ofstream(dir / "run.toml") << "[input]\nendpoint = \"" << endpoint << "\"\nbind = true\n"
                                  << "series_timeout = 5.0\n"
                                  << "[[operators]]\ntype = \"center_of_mass\"\nname = \"com\"\n"
                                  << "[outputs.hdf5]\npath = \"" << (dir / "out.h5").string()
                                  << "\"\n";
  test::Process engine({STEMFLOW_EXE, "run", (dir / "run.toml").string(), "--series", "1"},
                       (dir / "engine.log").string());
  test::Process sim(
      {STEMFLOW_SIM_EXE, "synth", "--scan", "8x8", "--frame", "32x32", "--connect", endpoint},
      (dir / "sim.log").string());
  ASSERT_EQ(sim.wait(milliseconds(60000)), 0) << test::read_text((dir / "sim.log").string());
  ASSERT_EQ(engine.wait(milliseconds(60000)), 0) << test::read_text((dir / "engine.log").string());
  test::H5File f((dir / "out.h5").string());
  const auto coverage = f.bytes("/stemflow/coverage/data");
  EXPECT_EQ(std::count(coverage.begin(), coverage.end(), 1), 64);
  EXPECT_EQ(f.string("/stemflow/metadatabundle/provenance/series_end"), "complete");
}

// Spec: `input.rate` paces a replay at that many frames per second (config/REFERENCE.md): 36
// frames at 90 frames/s take at least 0.4 s from the first frame (the pacing is a lower bound; a
// loaded machine only makes it longer), and every frame is still processed. Without the key the
// same replay is not paced (it takes far less on any machine that runs this suite).
TEST(DocumentedBehaviour, InputRatePacesAReplay) {
  const auto dir = test::work_dir("documented-rate");
  write_npy(dir / "scan.npy", Dtype::kF32, {kScan, kScan, kQ, kQ}, make_scan());
  for (const auto& [tag, rate] :
       {std::pair<std::string, std::string>{"paced", "rate = 90.0\n"}, {"unpaced", ""}}) {
    std::ofstream(dir / (tag + ".toml"))
        << "[input]\nsource = \"file\"\npath = \"" << (dir / "scan.npy").string() << "\"\n"
        << rate << "[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\n"
        << "detector = \"circle\"\ncenter = [12, 12]\nradius = 5\n";
    ASSERT_EQ(run(dir, tag), 0) << test::read_text((dir / (tag + ".log")).string());
  }
  // "... 36 processed, 0 dropped, 0 missing of 36; 0.412 s, ..."
  auto series_seconds = [&](const std::string& tag) {
    const auto log = test::read_text((dir / (tag + ".log")).string());
    const auto at = log.find(" processed, ");
    EXPECT_NE(at, std::string::npos) << log;
    if (at == std::string::npos) return -1.0;
    EXPECT_NE(log.rfind(" 36 processed, ", at + 1), std::string::npos) << log;
    const auto semi = log.find("; ", at);
    return std::stod(log.substr(semi + 2));
  };
  const double paced = series_seconds("paced");
  const double unpaced = series_seconds("unpaced");
  EXPECT_GE(paced, 35.0 / 90.0) << "36 frames at 90 frames/s: the last is due at 35/90 s";
  EXPECT_LT(unpaced, paced);
}
