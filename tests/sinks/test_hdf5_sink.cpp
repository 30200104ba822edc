// SPDX-License-Identifier: GPL-3.0-or-later
// The HDF5 sink: output-path policies, the EMD layout written, and clean errors when writing fails.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "sinks/hdf5/hdf5_sink.hpp"
#include "tests/support/h5read.hpp"

using namespace stemflow;
namespace fs = std::filesystem;

namespace {

fs::path dir() {
  auto d = fs::temp_directory_path() / "stemflow-test-hdf5";
  fs::create_directories(d);
  return d;
}

//! Runs a whole series through an Hdf5Sink, as the engine does.
Expected<std::string> write_series(const sinks::Hdf5Options& o, const sinks::ResultStore& store,
                                   const FrameBatch* batch, const sinks::Provenance& prov) {
  sinks::Hdf5Sink sink(o);
  sink.series_started(store, prov);
  if (batch != nullptr) sink.batch_consumed(*batch, store);
  return sink.series_ended(store, prov);
}

FrameBatch the_batch() {
  FrameBatch b;
  b.count = b.capacity = 3;
  b.index = {0, 1, 3};
  b.results.resize(2);
  b.results[0].scalars_per_frame = 1;
  b.results[1].scalars_per_frame = 1;
  b.results[1].max_peaks = 4;
  for (auto& r : b.results) r.resize(3);
  for (std::uint32_t i = 0; i < 3; ++i) b.results[0].frame_scalars(i)[0] = 10.0 * (i + 1);
  b.results[1].frame_peaks(2)[0] = {3.5, 4.25, 100.0};
  b.results[1].peak_counts[2] = 1;
  return b;
}

sinks::ResultStore small_store() {
  SeriesHeader h;
  h.series_id = 12;
  h.scan_rows = 2;
  h.scan_cols = 2;
  h.frame_rows = h.frame_cols = 8;
  h.metadata["seed"] = "3";
  sinks::ResultStore store;
  store.start(h, {{"bf", "virtual_image", {{{"", "counts"}}, 0}, {{"detector", "circle"}}},
                  {"bragg", "bragg_disks", {{{"count", "peaks"}}, 4}, {}}});
  store.consume(the_batch());
  store.add_series_images(1, {{"mean", 2, 2, {1, 2, 3, 4}, "counts"}});
  return store;
}

}  // namespace

// Spec: {series} is expanded; rename never overwrites, error refuses, overwrite keeps the name.
TEST(Hdf5Sink, OutputPathPolicies) {
  const auto d = dir() / "policies";
  fs::remove_all(d);
  const std::string pattern = (d / "run_{series}.h5").string();
  auto p = sinks::resolve_output_path(pattern, 7, sinks::IfExists::kRename);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, (d / "run_7.h5").string());
  std::ofstream(*p) << "x";
  EXPECT_EQ(*sinks::resolve_output_path(pattern, 7, sinks::IfExists::kRename),
            (d / "run_7_1.h5").string());
  EXPECT_FALSE(sinks::resolve_output_path(pattern, 7, sinks::IfExists::kError));
  EXPECT_EQ(*sinks::resolve_output_path(pattern, 7, sinks::IfExists::kOverwrite), *p);
}

// Spec: the EMD 1.0 layout: file and root attributes, VirtualImage maps, BraggVectors with its
// required shape metadata, per-series images, coverage and provenance.
TEST(Hdf5Sink, WritesTheEmdLayout) {
  const auto path = (dir() / "layout.h5").string();
  fs::remove(path);
  sinks::Provenance prov;
  prov.stemflow_version = "test";
  prov.config_toml = "[input]";
  prov.counts.frames_received = 4;
  prov.counts.dropped[static_cast<std::size_t>(DropReason::kDuplicate)] = 1;
  prov.frames_processed = 3;
  const auto store = small_store();
  const auto batch = the_batch();
  auto written = write_series({path, sinks::IfExists::kError, std::chrono::milliseconds(1000)},
                              store, &batch, prov);
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_EQ(*written, path);

  test::H5File f(path);
  EXPECT_EQ(f.attr("/", "emd_group_type"), "file");
  EXPECT_EQ(f.ints("/stemflow/bf/dim0"), (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(f.attr("/stemflow/bf", "python_class"), "VirtualImage");
  const auto bf = f.doubles("/stemflow/bf/data");
  EXPECT_EQ(bf[0], 10);
  EXPECT_EQ(bf[3], 30);
  EXPECT_TRUE(std::isnan(bf[2]));
  EXPECT_EQ(f.attr("/stemflow/bragg", "python_class"), "BraggVectors");
  EXPECT_EQ(f.attr("/stemflow/bragg/_v_uncal", "python_class"), "PointListArray");
  EXPECT_EQ(f.ints("/stemflow/bragg/metadatabundle/_braggvectors_shape/Rshape"),
            (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(f.ints("/stemflow/bragg/metadatabundle/_braggvectors_shape/Qshape"),
            (std::vector<std::int64_t>{8, 8}));
  EXPECT_TRUE(f.exists("/stemflow/bragg_count/data"));
  // The live peak table: one row (rx, ry, qx, qy, intensity) per peak.
  EXPECT_EQ(f.doubles("/stemflow/bragg_peaks/data"), (std::vector<double>{1, 1, 3.5, 4.25, 100.0}));
  EXPECT_EQ(f.doubles("/stemflow/bragg_mean/data"), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(f.attr("/stemflow/bragg_mean", "python_class"), "DiffractionSlice");
  EXPECT_EQ(f.bytes("/stemflow/coverage/data"), (std::vector<std::uint8_t>{1, 1, 0, 1}));
  const std::string md = "/stemflow/metadatabundle/provenance/";
  EXPECT_EQ(f.ints(md + "frames_dropped_duplicate")[0], 1);
  EXPECT_EQ(f.ints(md + "frames_missing")[0], 1);
  EXPECT_EQ(f.string(md + "detector_seed"), "3");
  EXPECT_EQ(f.string("/stemflow/metadatabundle/operator_bf/detector"), "circle");

  // The peak list of position (1, 1), read back through the vlen compound type.
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t ds = H5Dopen2(file, "/stemflow/bragg/_v_uncal/data", H5P_DEFAULT);
  const hid_t t = H5Dget_type(ds);
  std::vector<hvl_t> vl(4);
  ASSERT_GE(H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, vl.data()), 0);
  EXPECT_EQ(vl[0].len, 0u);
  ASSERT_EQ(vl[3].len, 1u);
  const auto* p = static_cast<const Peak*>(vl[3].p);
  EXPECT_EQ(p->qx, 3.5);
  EXPECT_EQ(p->qy, 4.25);
  EXPECT_EQ(p->intensity, 100.0);
  const hid_t sp = H5Dget_space(ds);
  H5Dvlen_reclaim(t, sp, H5P_DEFAULT, vl.data());
  H5Sclose(sp);
  H5Tclose(t);
  H5Dclose(ds);
  H5Fclose(file);
}

// Edge case: an existing file is not touched when the writer may not overwrite it, and an
// unwritable place gives an error with HDF5's cause instead of a crash.
TEST(Hdf5Sink, FailuresAreCleanErrors) {
  const auto path = (dir() / "keep.h5").string();
  std::ofstream(path) << "precious";
  EXPECT_FALSE(write_series({path, sinks::IfExists::kError, {}}, small_store(), nullptr, {}));
  std::ifstream in(path);
  std::string s;
  in >> s;
  EXPECT_EQ(s, "precious");
  const auto bad = write_series({"/proc/stemflow-cannot-write-here.h5", sinks::IfExists::kRename, {}},
                                small_store(), nullptr, {});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("cannot create"), std::string::npos) << bad.error().message;
}

// Edge case: a full disk. /dev/full accepts the open and fails every write: the writer reports
// it and leaves nothing behind that looks like a result.
TEST(Hdf5Sink, FullDiskIsAnError) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full on this system";
  const auto link = (dir() / "full.h5").string();
  fs::remove(link);
  fs::create_symlink("/dev/full", link);
  const auto batch = the_batch();
  const auto r = write_series({link, sinks::IfExists::kOverwrite, {}}, small_store(), &batch, {});
  ASSERT_FALSE(r);
  // The operating system's words, not HDF5's whole record of the failed call.
  EXPECT_NE(r.error().message.find("No space left on device"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("errno ="), std::string::npos) << r.error().message;
  fs::remove(link);
}

// Edge case: the disk fills up in the middle of a scan. RLIMIT_FSIZE stands in for the full disk
// (writes past it fail with EFBIG as a full disk fails them with ENOSPC; no root or mount needed).
// The file is created on this thread and the rows are written on another, as the engine's sink node
// runs on any TBB worker. The series ends with an error that names the cause and says what the
// file still holds, and HDF5 prints none of its own error stacks: the thread-safe HDF5 has a
// printing switch per thread, so each writing thread must turn it off.
TEST(Hdf5Sink, DiskFullMidScanIsOneClearError) {
  constexpr std::uint32_t kRows = 64, kCols = 64;
  SeriesHeader h;
  h.series_id = 5;
  h.scan_rows = kRows;
  h.scan_cols = kCols;
  h.frame_rows = h.frame_cols = 8;
  sinks::ResultStore store;
  store.start(h, {{"bf", "virtual_image", {{{"", "counts"}}, 0}, {}}});
  const auto path = (dir() / "disk_full.h5").string();
  fs::remove(path);

  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  testing::internal::CaptureStderr();
  std::optional<Expected<std::string>> result;
  {
    sinks::Hdf5Sink sink({path, sinks::IfExists::kError, std::chrono::milliseconds(0)});
    sink.series_started(store, {});
    ASSERT_TRUE(fs::exists(path));
    // Room for 4 KiB more than the file's skeleton; the 64 rows of doubles need 32 KiB.
    rlimit lim = old;
    lim.rlim_cur = fs::file_size(path) + 4096;
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
    std::thread writer([&] {
      for (std::uint32_t r = 0; r < kRows; ++r) {
        FrameBatch b;
        b.count = b.capacity = kCols;
        b.results.resize(1);
        b.results[0].scalars_per_frame = 1;
        b.results[0].resize(kCols);
        for (std::uint32_t c = 0; c < kCols; ++c) {
          b.index.push_back(std::uint64_t{r} * kCols + c);
          b.results[0].frame_scalars(c)[0] = double(r * kCols + c);
        }
        store.consume(b);
        sink.batch_consumed(b, store);
      }
      result = sink.series_ended(store, {});
    });
    writer.join();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  const std::string printed = testing::internal::GetCapturedStderr();

  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(*result) << "the writes past the limit should have failed";
  const std::string& msg = result->error().message;
  EXPECT_NE(msg.find("File too large"), std::string::npos) << msg;  // strerror(EFBIG), the cause
  EXPECT_NE(msg.find("holds only the rows flushed before"), std::string::npos) << msg;
  EXPECT_EQ(printed.find("HDF5-DIAG"), std::string::npos) << printed.substr(0, 2000);
  fs::remove(path);
}

// Edge case: a file whose creation fails (a full disk fails the very first write) is not left
// behind as an empty .h5 that looks like a result.
TEST(Hdf5Sink, FailedCreationLeavesNoFile) {
  const auto path = (dir() / "never_made.h5").string();
  fs::remove(path);
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit lim = old;
  lim.rlim_cur = 0;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
  const auto r = write_series({path, sinks::IfExists::kRename, {}}, small_store(), nullptr, {});
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot create"), std::string::npos) << r.error().message;
  EXPECT_FALSE(fs::exists(path));
}
