// SPDX-License-Identifier: GPL-3.0-or-later
// Real DECTRIS-written HDF5 files (../shared/data/dectris): every frame decoded by our bslz4/lz4
// (chunks read directly) hashes to MANIFEST.json; a master file linking the data files replays all
// images in order through the replay source; `info` metadata is read.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ingest/dectris/dectris_file.hpp"
#include "ingest/replay/replay_source.hpp"
#include "sha256.hpp"
#include "source_harness.hpp"
#include "tests/support/reference.hpp"

using namespace stemflow;
namespace fs = std::filesystem;

namespace {

fs::path data_dir() { return test::shared_dir() / "data" / "dectris"; }

#define REQUIRE_DECTRIS_DATA()                                        \
  if (!fs::exists(data_dir() / "MANIFEST.json"))                      \
  GTEST_SKIP() << "DECTRIS test files not found under " << data_dir() \
               << " (set STEMFLOW_SHARED_DIR to the shared folder); skipping the replay check"

nlohmann::json manifest() {
  std::ifstream in(data_dir() / "MANIFEST.json");
  return nlohmann::json::parse(in);
}

fs::path temp_dir(const std::string& name) {
  auto d =
      fs::temp_directory_path() / ("stemflow-dectris-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A master file as the DECTRIS file writer makes it: /entry/data/data_00000N external links.
void write_master(const fs::path& master, const std::vector<fs::path>& data_files) {
  const hid_t f = H5Fcreate(master.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  const hid_t g = H5Gcreate2(f, "/entry/data", lcpl, H5P_DEFAULT, H5P_DEFAULT);
  for (std::size_t i = 0; i < data_files.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "data_%06zu", i + 1);
    H5Lcreate_external(
        data_files[i].filename().c_str(), "/entry/data/data", g, name, H5P_DEFAULT, H5P_DEFAULT);
  }
  // A little detector metadata, as the master carries it.
  const hid_t det = H5Gcreate2(f, "/entry/instrument/detector", lcpl, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t sp = H5Screate(H5S_SCALAR);
  const double ct = 0.001;
  const hid_t ds =
      H5Dcreate2(det, "count_time", H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &ct);
  H5Dclose(ds);
  H5Sclose(sp);
  H5Gclose(det);
  H5Gclose(g);
  H5Pclose(lcpl);
  H5Fclose(f);
}

}  // namespace

// Spec: every frame of every DECTRIS file, decoded from its raw chunk by our codecs, has the
// SHA-256 of MANIFEST.json (per frame and over the file), with the manifest's shape and dtype.
TEST(DectrisFile, EveryFrameMatchesManifest) {
  REQUIRE_DECTRIS_DATA();
  const auto m = manifest();
  ASSERT_FALSE(m.empty());
  for (const auto& [name, entry] : m.items()) {
    SCOPED_TRACE(name);
    ingest::DectrisFileReader r((data_dir() / name).string());
    const auto& info = r.info();
    const auto shape = entry["shape"].get<std::vector<std::uint64_t>>();
    EXPECT_EQ(info.frames, shape[0]);
    EXPECT_EQ(info.frame_rows, shape[1]);
    EXPECT_EQ(info.frame_cols, shape[2]);
    EXPECT_EQ(std::string(dtype_name(info.dtype)),
              "u" + entry["dtype"].get<std::string>().substr(4));
    EXPECT_TRUE(r.encoded()) << "chunks must be read directly, not through an HDF5 plugin";
    EXPECT_EQ(info.compression, entry["filters"].contains("32008") ? "bslz4" : "lz4");
    const auto hashes = entry["sha256_per_frame_le"].get<std::vector<std::string>>();
    test::Sha256 all;
    std::vector<std::uint8_t> frame(info.frame_bytes());
    for (std::uint64_t i = 0; i < info.frames; ++i) {
      auto ok = r.read_frame(i, frame);
      ASSERT_TRUE(ok) << ok.error().message;
      EXPECT_EQ(test::Sha256::of(frame), hashes[i]) << "frame " << i;
      all.update(frame.data(), frame.size());
    }
    EXPECT_EQ(all.hex(), entry["sha256_all_frames_le"].get<std::string>());
  }
}

// Spec: a master file linking data_000001 and data_000002 replays, through the engine's replay
// source (parallel decode into batches), the four images in order with the manifest's hashes.
TEST(DectrisFile, MasterFileReplaysAllDataFilesInOrder) {
  REQUIRE_DECTRIS_DATA();
  const auto m = manifest();
  for (const std::string series : {"eiger1_testmode10_2datafiles_4images_bslz4",
                                   "eiger1_testmode10_2datafiles_4images_lz4",
                                   "eiger2_simread7_2datafiles_4images_bslz4_uint32",
                                   "eiger2_simread7_2datafiles_4images_bslz4_uint8"}) {
    SCOPED_TRACE(series);
    const auto dir = temp_dir("master");
    std::vector<fs::path> files;
    std::vector<std::string> hashes;
    for (const char* n : {"_data_000001.h5", "_data_000002.h5"}) {
      fs::copy_file(data_dir() / (series + n), dir / (series + n));
      files.push_back(dir / (series + n));
      for (const auto& h : m[series + n]["sha256_per_frame_le"])
        hashes.push_back(h.get<std::string>());
    }
    const auto master = dir / (series + "_master.h5");
    write_master(master, files);

    ingest::DectrisFileReader reader(master.string());
    EXPECT_EQ(reader.info().frames, 4u);
    EXPECT_EQ(reader.info().files.size(), 2u);
    EXPECT_EQ(reader.info().metadata.at("count_time"), "0.001");

    BatchPool pool(64 << 20);
    ingest::ReplayOptions o;
    o.path = master.string();
    o.scan_shape = {2, 2};
    o.read_ahead = 3;  // smaller than the series: read-ahead wraps around
    ingest::ReplaySource src(pool, o);
    const auto got = test::drain(src, pool, 1, std::chrono::seconds(60), 3);
    ASSERT_EQ(got.size(), 1u);
    const auto& r = got[0];
    EXPECT_EQ(r.header.scan_rows, 2u);
    EXPECT_EQ(r.counts.end, SeriesEnd::kEndOfFile);
    EXPECT_EQ(r.counts.frames_accepted, 4u);
    EXPECT_EQ(r.counts.dropped_total(), 0u);
    for (std::uint64_t i = 0; i < 4; ++i) {
      EXPECT_EQ(test::Sha256::of({r.frame(i), r.header.frame_bytes()}), hashes[i]) << "image " << i;
    }
    fs::remove_all(dir);
  }
}

// Edge case: a master whose second link points at a missing data file replays the images that
// exist (links that do not resolve end the series, as while a file writer is still running).
TEST(DectrisFile, UnresolvedLinksEndTheSeries) {
  REQUIRE_DECTRIS_DATA();
  const auto dir = temp_dir("unresolved");
  const std::string s = "eiger2_simread7_2datafiles_4images_lz4";
  fs::copy_file(data_dir() / (s + "_data_000001.h5"), dir / (s + "_data_000001.h5"));
  write_master(dir / "m_master.h5", {dir / (s + "_data_000001.h5"), dir / (s + "_data_000002.h5")});
  ingest::DectrisFileReader reader((dir / "m_master.h5").string());
  EXPECT_EQ(reader.info().frames, 2u);
  fs::remove_all(dir);
}

// Error guessing: a chunk whose compressed bytes are damaged is dropped as decode_error while the
// other images of the file replay intact.
TEST(DectrisFile, CorruptChunkIsDroppedOthersKept) {
  REQUIRE_DECTRIS_DATA();
  const auto dir = temp_dir("corrupt");
  const std::string name = "eiger2_simread7_2datafiles_4images_bslz4_data_000001.h5";
  const auto path = dir / name;
  fs::copy_file(data_dir() / name, path);
  fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
  {
    // Rewrite chunk 1 with its last bytes cut off (a damaged block), through H5Dwrite_chunk.
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hid_t ds = H5Dopen2(f, "/entry/data/data", H5P_DEFAULT);
    const hsize_t off[3] = {1, 0, 0};
    hsize_t n = 0;
    ASSERT_GE(H5Dget_chunk_storage_size(ds, off, &n), 0);
    std::vector<std::uint8_t> chunk(n);
    std::uint32_t mask = 0;
    ASSERT_GE(H5Dread_chunk(ds, H5P_DEFAULT, off, &mask, chunk.data()), 0);
    chunk.resize(n - 100);
    ASSERT_GE(H5Dwrite_chunk(ds, H5P_DEFAULT, mask, off, chunk.size(), chunk.data()), 0);
    H5Dclose(ds);
    H5Fclose(f);
  }
  BatchPool pool(16 << 20);
  ingest::ReplayOptions o;
  o.path = path.string();
  ingest::ReplaySource src(pool, o);
  const auto got = test::drain(src, pool, 1);
  ASSERT_EQ(got.size(), 1u);
  const auto& r = got[0];
  EXPECT_EQ(r.counts.frames_received, 2u);
  EXPECT_EQ(r.counts.frames_accepted, 1u);
  EXPECT_EQ(r.counts.dropped[std::size_t(DropReason::kDecodeError)], 1u);
  EXPECT_EQ(r.coverage, (std::vector<std::uint8_t>{1, 0}));
  const auto m = manifest();
  EXPECT_EQ(test::Sha256::of({r.frame(0), r.header.frame_bytes()}),
            m[name]["sha256_per_frame_le"][0].get<std::string>());
  fs::remove_all(dir);
}
