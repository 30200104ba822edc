// SPDX-License-Identifier: GPL-3.0-or-later
// Replay readers for EMD 1.0 (py4DSTEM DataCube) and Merlin .mib files, and the Merlin pixel
// encodings: files written here are replayed through the replay source frame for frame.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "ingest/emd/emd_file.hpp"
#include "ingest/merlin/mib_file.hpp"
#include "ingest/merlin/mpx.hpp"
#include "ingest/replay/replay_source.hpp"
#include "source_harness.hpp"

using namespace stemflow;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  auto d =
      fs::temp_directory_path() / ("stemflow-replay-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::vector<std::uint16_t> pattern(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint16_t> v(n);
  for (auto& x : v) x = static_cast<std::uint16_t>(rng() % 4096);
  return v;
}

void set_vlen_attr(hid_t obj, const char* name, const char* value) {
  const hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  const hid_t sp = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, t, &value);
  H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
}

// An EMD 1.0 file with a DataCube as py4DSTEM writes it (docs/py4dstem.md section 3), gzip-chunked.
void write_emd(const fs::path& path,
               const std::vector<std::uint16_t>& data,
               const hsize_t dims[4]) {
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  set_vlen_attr(f, "emd_group_type", "file");
  const hid_t root = H5Gcreate2(f, "datacube_root", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  set_vlen_attr(root, "emd_group_type", "root");
  set_vlen_attr(root, "python_class", "Root");
  const hid_t dc = H5Gcreate2(root, "datacube", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  set_vlen_attr(dc, "emd_group_type", "array");
  set_vlen_attr(dc, "python_class", "DataCube");
  const hid_t sp = H5Screate_simple(4, dims, nullptr);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  const hsize_t chunk[4] = {1, 2, dims[2], dims[3]};  // chunks span two frames
  H5Pset_chunk(dcpl, 4, chunk);
  H5Pset_deflate(dcpl, 4);
  const hid_t ds = H5Dcreate2(dc, "data", H5T_STD_U16LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Dwrite(ds, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data());
  H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(sp);
  H5Gclose(dc);
  H5Gclose(root);
  H5Fclose(f);
}

}  // namespace

// Spec: an EMD 1.0 DataCube (gzip, chunks of two frames) replays with its scan shape, frame for
// frame, and detection picks the emd format.
TEST(EmdFile, DataCubeReplaysFrameForFrame) {
  const auto dir = temp_dir("emd");
  const hsize_t dims[4] = {3, 4, 24, 20};
  const auto data = pattern(3 * 4 * 24 * 20, 1);
  write_emd(dir / "cube.h5", data, dims);
  EXPECT_EQ(ingest::detect_format((dir / "cube.h5").string()), "emd");
  BatchPool pool(4 << 20);
  ingest::ReplayOptions o;
  o.path = (dir / "cube.h5").string();
  ingest::ReplaySource src(pool, o);
  const auto got = test::drain(src, pool, 1, std::chrono::seconds(30), 5);
  ASSERT_EQ(got.size(), 1u);
  const auto& r = got[0];
  EXPECT_EQ(r.header.scan_rows, 3u);
  EXPECT_EQ(r.header.scan_cols, 4u);
  EXPECT_EQ(r.header.frame_rows, 24u);
  EXPECT_EQ(r.header.frame_cols, 20u);
  EXPECT_EQ(r.counts.frames_accepted, 12u);
  EXPECT_EQ(0, std::memcmp(r.pixels.data(), data.data(), data.size() * 2));
  fs::remove_all(dir);
}

// Spec: the raw (R64) Merlin encodings of one chip decode to the pixels they were made from, at 1,
// 6, 12 and 24 bit.
TEST(MerlinPixels, RawEncodingsRoundTrip) {
  constexpr std::size_t kN = 256 * 4;
  std::mt19937 rng(4);
  for (std::uint32_t depth : {1u, 6u, 12u, 24u}) {
    SCOPED_TRACE(depth);
    const Dtype dt = depth <= 6 ? Dtype::kU8 : depth == 12 ? Dtype::kU16 : Dtype::kU32;
    std::vector<std::uint8_t> px(kN * dtype_size(dt));
    const std::uint32_t max = (1u << depth) - 1;
    for (std::size_t i = 0; i < kN; ++i) {
      const std::uint32_t v = rng() & max;
      std::memcpy(px.data() + i * dtype_size(dt), &v, dtype_size(dt));
    }
    // 24 bit: the header's width counts both 12-bit halves (LiberTEM mib.py halves it).
    std::string head = "MQ1,000001,00384,01," + std::string(depth == 24 ? "0512" : "0256") +
                       ",0004,R64,   1x1,01,x,0,0,0,0,MQ1A,t,1ns," + std::to_string(depth) + ",";
    head.resize(384, '\0');
    auto h = ingest::merlin::parse_frame_header(
        {reinterpret_cast<const std::uint8_t*>(head.data()), head.size()});
    ASSERT_TRUE(h) << h.error().message;
    EXPECT_TRUE(h->raw);
    EXPECT_EQ(h->counter_depth, depth);
    const std::string raw = ingest::merlin::encode_raw_pixels(depth, px, kN);
    ASSERT_EQ(raw.size(), h->pixel_bytes);
    std::vector<std::uint8_t> out(px.size());
    ASSERT_TRUE(ingest::merlin::decode_pixels(
        *h, {reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()}, out));
    EXPECT_EQ(out, px);
  }
}

// Spec: a .mib file (big-endian U16 frames) with its .hdr replays with the scan shape of ScanX and
// ScanY, frame for frame; a file cut inside its last frame replays the whole frames before it.
TEST(MibFile, ReplaysWithScanShapeFromHdr) {
  const auto dir = temp_dir("mib");
  constexpr std::uint32_t kW = 32, kH = 24, kFrames = 6;
  const auto data = pattern(std::size_t{kFrames} * kW * kH, 2);
  {
    std::ofstream f(dir / "scan.mib", std::ios::binary);
    std::vector<std::uint8_t> be(kW * kH * 2);
    for (std::uint32_t i = 0; i < kFrames; ++i) {
      const auto head = ingest::merlin::encode_frame_header(i + 1, kW, kH, Dtype::kU16, 12);
      f.write(head.data(), static_cast<std::streamsize>(head.size()));
      ingest::merlin::encode_pixels(
          Dtype::kU16,
          {reinterpret_cast<const std::uint8_t*>(data.data() + i * kW * kH), be.size()},
          be);
      f.write(reinterpret_cast<const char*>(be.data()), static_cast<std::streamsize>(be.size()));
    }
    f.write("MQ1,000007", 10);  // a frame cut short
    std::ofstream(dir / "scan.hdr") << ingest::merlin::encode_acquisition_header(kFrames, 12, 3, 2);
  }
  EXPECT_EQ(ingest::detect_format((dir / "scan.mib").string()), "mib");
  ingest::MibFileReader reader((dir / "scan.mib").string());
  EXPECT_EQ(reader.info().frames, kFrames);
  EXPECT_EQ(reader.info().scan_shape, (std::array<std::uint32_t, 2>{2, 3}));
  BatchPool pool(4 << 20);
  ingest::ReplayOptions o;
  o.path = (dir / "scan.mib").string();
  ingest::ReplaySource src(pool, o);
  const auto got = test::drain(src, pool, 1, std::chrono::seconds(30), 4);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].header.scan_rows, 2u);
  EXPECT_EQ(got[0].header.scan_cols, 3u);
  EXPECT_EQ(got[0].counts.frames_accepted, kFrames);
  EXPECT_EQ(0, std::memcmp(got[0].pixels.data(), data.data(), data.size() * 2));
  fs::remove_all(dir);
}
