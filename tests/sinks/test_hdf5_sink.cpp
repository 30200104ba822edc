// SPDX-License-Identifier: GPL-3.0-or-later
// The HDF5 sink: output-path policies, the EMD layout written, and clean errors when writing fails.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
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
Expected<std::string> write_series(const sinks::Hdf5Options& o,
                                   const ResultStore& store,
                                   const FrameBatch* batch,
                                   const Provenance& prov) {
  sinks::Hdf5Sink sink(o);
  sink.series_started(store, prov);
  if (batch != nullptr) sink.batch_done(*batch, store);
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

ResultStore small_store() {
  SeriesHeader h;
  h.series_id = 12;
  h.scan_rows = 2;
  h.scan_cols = 2;
  h.frame_rows = h.frame_cols = 8;
  h.metadata["seed"] = "3";
  ResultStore store;
  store.start(h,
              {{"bf", "virtual_image", {{{"", "counts"}}, 0}, {{"detector", "circle"}}},
               {"bragg", "bragg_disks", {{{"count", "peaks"}}, 4}, {}}});
  store.consume(the_batch());
  store.add_series_images(1, {{"mean", 2, 2, {1, 2, 3, 4}, "counts"}});
  return store;
}

//! A scan for the full-disk tests: a virtual image, a centre of mass (three maps) and a peak finder
//! (a count map and a peak table, the one dataset that grows while the scan runs).
constexpr std::uint32_t kFullRows = 64, kFullCols = 64, kPeaksPerFrame = 3;

ResultStore full_disk_store() {
  SeriesHeader h;
  h.series_id = 5;
  h.scan_rows = kFullRows;
  h.scan_cols = kFullCols;
  h.frame_rows = h.frame_cols = 8;
  ResultStore store;
  store.start(
      h,
      {{"bf", "virtual_image", {{{"", "counts"}}, 0}, {}},
       {"com", "center_of_mass", {{{"qx", "px"}, {"qy", "px"}, {"intensity", "counts"}}, 0}, {}},
       {"bragg", "bragg_disks", {{{"count", "peaks"}}, 4}, {}}});
  return store;
}

//! Scan row `r` of full_disk_store()'s scan: every value is nonzero and tells its position.
FrameBatch full_disk_row(std::uint32_t r) {
  FrameBatch b;
  b.count = b.capacity = kFullCols;
  b.results.resize(3);
  b.results[0].scalars_per_frame = 1;
  b.results[1].scalars_per_frame = 3;
  b.results[2].scalars_per_frame = 1;
  b.results[2].max_peaks = 4;
  for (auto& res : b.results) res.resize(kFullCols);
  for (std::uint32_t c = 0; c < kFullCols; ++c) {
    const std::uint64_t pos = std::uint64_t{r} * kFullCols + c;
    b.index.push_back(pos);
    b.results[0].frame_scalars(c)[0] = double(pos + 1);
    const auto com = b.results[1].frame_scalars(c);
    com[0] = double(pos) + 0.5;
    com[1] = double(pos) + 0.25;
    com[2] = 7.0;
    b.results[2].frame_scalars(c)[0] = kPeaksPerFrame;
    for (std::uint32_t k = 0; k < kPeaksPerFrame; ++k) {
      b.results[2].frame_peaks(c)[k] = {double(k), double(pos), 1.0};
    }
    b.results[2].peak_counts[c] = kPeaksPerFrame;
  }
  return b;
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
  Provenance prov;
  prov.stemflow_version = "test";
  prov.config_toml = "[input]";
  prov.counts.frames_received = 4;
  prov.counts.dropped[static_cast<std::size_t>(DropReason::kDuplicate)] = 1;
  prov.frames_processed = 3;
  const auto store = small_store();
  const auto batch = the_batch();
  auto written = write_series(
      {path, sinks::IfExists::kError, std::chrono::milliseconds(1000)}, store, &batch, prov);
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
  const auto bad =
      write_series({"/proc/stemflow-cannot-write-here.h5", sinks::IfExists::kRename, {}},
                   small_store(),
                   nullptr,
                   {});
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
  EXPECT_NE(r.error().message.find("No space left on device"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(r.error().message.find("errno ="), std::string::npos) << r.error().message;
  fs::remove(link);
}

// Edge case: the disk fills up in the middle of a scan. RLIMIT_FSIZE stands in for the full disk
// (writes past it fail with EFBIG as a full disk fails them with ENOSPC; no root or mount needed).
// The maps are given all their space at series start, so what fills the disk is the peak table.
// The file is created on this thread and the rows are written on another, as the engine's sink node
// runs on any TBB worker. The series ends with an error that names the cause and says what the
// file still holds, and HDF5 prints none of its own error stacks: the thread-safe HDF5 has a
// printing switch per thread, so each writing thread must turn it off.
TEST(Hdf5Sink, DiskFullMidScanIsOneClearError) {
  auto store = full_disk_store();
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
    // Room for 4 KiB more than the file's skeleton; a chunk of the peak table needs 160 KiB.
    rlimit lim = old;
    lim.rlim_cur = fs::file_size(path) + 4096;
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
    std::thread writer([&] {
      for (std::uint32_t r = 0; r < kFullRows; ++r) {
        const auto b = full_disk_row(r);
        store.consume(b);
        sink.batch_done(b, store);
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

namespace {

//! Writes full_disk_store()'s scan row by row (a flush per row) into `path`, calling `fill_disk`
//! once the file exists, and checks what the file holds after the disk filled up mid-scan, read
//! with `open_flags`: the same scan positions in every dataset, exactly those the coverage shows.
void check_full_disk_leaves_consistent_file(const std::string& path,
                                            const std::function<void()>& fill_disk,
                                            const std::function<void()>& lift_limit) {
  auto store = full_disk_store();
  std::optional<Expected<std::string>> result;
  {
    sinks::Hdf5Sink sink({path, sinks::IfExists::kOverwrite, std::chrono::milliseconds(0)});
    sink.series_started(store, {});
    ASSERT_TRUE(fs::exists(path));
    fill_disk();
    for (std::uint32_t r = 0; r < kFullRows; ++r) {
      const auto b = full_disk_row(r);
      store.consume(b);
      sink.batch_done(b, store);
    }
    result = sink.series_ended(store, {});
  }
  lift_limit();
  ASSERT_FALSE(*result) << "the disk should have filled up";
  EXPECT_NE(result->error().message.find("holds only the rows flushed before"), std::string::npos)
      << result->error().message;

  // A plain reader (h5py, py4DSTEM; not SWMR) opens it: the failed flush was undone and the file
  // closed.
  test::H5File f(path);
  const auto coverage = f.bytes("/stemflow/coverage/data");
  ASSERT_EQ(coverage.size(), std::size_t{kFullRows} * kFullCols);
  const std::vector<std::string> maps = {"bf", "com_qx", "com_qy", "com_intensity", "bragg_count"};
  std::vector<std::vector<double>> values;
  for (const auto& m : maps) values.push_back(f.doubles("/stemflow/" + m + "/data"));
  const long covered = std::count(coverage.begin(), coverage.end(), 1);
  EXPECT_GT(covered, 0) << "nothing was kept from before the disk filled up";
  EXPECT_LT(covered, long(coverage.size())) << "the disk never filled up";
  for (std::size_t m = 0; m < maps.size(); ++m) {
    const long numbers =
        std::count_if(values[m].begin(), values[m].end(), [](double v) { return !std::isnan(v); });
    EXPECT_EQ(numbers, covered) << maps[m];
  }
  for (std::size_t pos = 0; pos < coverage.size(); ++pos) {
    ASSERT_LE(coverage[pos], 1) << pos;
    for (std::size_t m = 0; m < maps.size(); ++m) {
      // Either every map holds the position's value and the coverage says 1, or all are NaN and 0.
      if (coverage[pos]) {
        ASSERT_FALSE(std::isnan(values[m][pos])) << maps[m] << " at " << pos;
      } else {
        ASSERT_TRUE(std::isnan(values[m][pos])) << maps[m] << " at " << pos;
      }
    }
    if (coverage[pos]) {
      EXPECT_EQ(values[0][pos], double(pos + 1));
      EXPECT_EQ(values[1][pos], double(pos) + 0.5);
      EXPECT_EQ(values[2][pos], double(pos) + 0.25);
    }
  }
  // The peak table: the peaks of the covered positions, all of them, and no others.
  const auto table = f.doubles("/stemflow/bragg_peaks/data");
  ASSERT_EQ(table.size() % 5, 0u);
  EXPECT_EQ(long(table.size() / 5), covered * long(kPeaksPerFrame));
  std::vector<int> peaks_at(coverage.size(), 0);
  for (std::size_t i = 0; i < table.size(); i += 5) {
    const auto pos = std::size_t(table[i] * kFullCols + table[i + 1]);
    ASSERT_LT(pos, coverage.size());
    EXPECT_EQ(coverage[pos], 1) << "a peak of position " << pos << ", which the coverage lacks";
    EXPECT_EQ(table[i + 3], double(pos));
    ++peaks_at[pos];
  }
  for (std::size_t pos = 0; pos < coverage.size(); ++pos) {
    EXPECT_EQ(peaks_at[pos], coverage[pos] ? int(kPeaksPerFrame) : 0) << pos;
  }
}

}  // namespace

// Edge case: the disk fills up mid-scan, here a file size limit (RLIMIT_FSIZE, the path every
// machine can run). The file left behind is consistent: every map, the peak table and the coverage
// hold the same scan positions, and the coverage says exactly which.
TEST(Hdf5Sink, DiskFullMidScanLeavesTheSameRowsInEveryDataset) {
  const auto path = (dir() / "disk_full_consistent.h5").string();
  fs::remove(path);
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  check_full_disk_leaves_consistent_file(
      path,
      [&] {
        // Room for one 160 KiB chunk of the peak table (about 21 scan rows of peaks), not two.
        rlimit lim = old;
        lim.rlim_cur = fs::file_size(path) + 200 * 1024;
        ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
      },
      [&] {
        setrlimit(RLIMIT_FSIZE, &old);
        std::signal(SIGXFSZ, old_handler);
        // The one step where a size limit is not a full disk: closing the file, HDF5 extends it to
        // the end of what it allocated (here the peak chunk that could not be written). On a full
        // disk that extension is sparse and goes through; past a size limit it fails, and the file
        // stays shorter than its superblock says. Extend it as the disk would have (the superblock,
        // v3, holds the end-of-file address at byte 28).
        std::ifstream in(path, std::ios::binary);
        std::uint64_t eof = 0;
        in.seekg(28);
        in.read(reinterpret_cast<char*>(&eof), sizeof eof);
        ASSERT_TRUE(in.good());
        if (eof > fs::file_size(path)) fs::resize_file(path, eof);
      });
  fs::remove(path);
}

// Edge case: the same on a real full file system, a small tmpfs (ENOSPC from the kernel, not a
// process limit). Mounting needs root (CAP_SYS_ADMIN); elsewhere the test is skipped.
TEST(Hdf5Sink, FullTmpfsMidScanLeavesTheSameRowsInEveryDataset) {
  const auto mnt = dir() / ("tmpfs-" + std::to_string(::getpid()));
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=2m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno)
                 << "); the RLIMIT_FSIZE test covers the full disk";
  }
  const auto path = (mnt / "results.h5").string();
  check_full_disk_leaves_consistent_file(
      path,
      [&] {
        // Fill the file system up to 200 KiB free: room for one 160 KiB chunk of the peak table.
        struct statvfs st {};
        ASSERT_EQ(::statvfs(mnt.c_str(), &st), 0);
        const std::uint64_t free_bytes = std::uint64_t{st.f_bavail} * st.f_frsize;
        ASSERT_GT(free_bytes, 200u * 1024);
        std::ofstream filler(mnt / "filler", std::ios::binary);
        const std::vector<char> bytes(free_bytes - 200 * 1024, 1);
        filler.write(bytes.data(), std::streamsize(bytes.size()));
        ASSERT_TRUE(filler.good());
      },
      [] {});
  ::umount2(mnt.c_str(), MNT_DETACH);
  fs::remove(mnt);
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
