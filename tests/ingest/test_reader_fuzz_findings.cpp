// SPDX-License-Identifier: GPL-3.0-or-later
// Regression tests for what the file readers' fuzz targets found (tests/fuzz/README.md): each input
// is the finding, minimised, written here as bytes; each crashed or misbehaved before its fix.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "ingest/replay/frame_reader.hpp"
#include "pipeline/core/expected.hpp"

using namespace stemflow;
namespace fs = std::filesystem;

namespace {

fs::path write_file(const std::string& name, const std::string& bytes) {
  const auto dir = fs::temp_directory_path() / "stemflow-reader-fuzz-findings";
  fs::create_directories(dir);
  const auto path = dir / name;
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  return path;
}

// A version 1.0 .npy file: magic, header padded with spaces to 64 bytes in all, then `data`.
std::string npy(const std::string& dict, const std::string& data) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

}  // namespace

// Edge case (fuzz_npy, finding 1): an .npy scan whose frames have a zero-length side (shape
// (0, 3, 82, 0)) has frames of 0 bytes; the replay reader divided the file's data size by it
// (SIGFPE). Now a ConfigError naming the axis.
TEST(ReaderFuzzFindings, NpyFramesWithAZeroSideAreRefused) {
  const auto path = write_file(
      "zero-side.npy",
      npy("{'descr': '|u1', 'fortran_order': False, 'shape': (0, 3,  82,0), }", "\x02\x02\x03"));
  try {
    ingest::open_frame_reader(path.string(), "npy");
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("axis 3 is 0"), std::string::npos) << e.what();
  }
}

// Edge case (same finding): a frame side beyond 32 bits was cut by a cast to uint32 (2^32 became
// 0, the same division); one beyond 65536 is refused as input.frame_shape refuses it.
TEST(ReaderFuzzFindings, NpyFrameSidesBeyond65536AreRefused) {
  for (const std::string shape : {"(1, 1, 4294967296, 4)", "(2, 70000, 2)"}) {
    SCOPED_TRACE(shape);
    const auto path = write_file(
        "long-side.npy",
        npy("{'descr': '<u2', 'fortran_order': False, 'shape': " + shape + ", }", "\0\0\0\0"));
    EXPECT_THROW(ingest::open_frame_reader(path.string(), "npy"), ConfigError);
  }
}

namespace {
std::size_t open_descriptors() {
  return static_cast<std::size_t>(
      std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator()));
}
}  // namespace

// Edge case (fuzz_mib, finding 2): a file that MibFileReader refuses (here an MQ1 header with
// fields that are not numbers) left its descriptor open, since a throwing constructor runs no
// destructor: the fuzzer ran out of descriptors after about a thousand. Now every refused file
// closes its descriptor.
TEST(ReaderFuzzFindings, RefusedMibFilesCloseTheirDescriptor) {
  const auto path = write_file(
      "bad.mib", std::string("MQ1,0022222222\xff\xff-\xa2", 18) + std::string(400, '\0'));
  const auto before = open_descriptors();
  for (int i = 0; i < 20; ++i) {
    EXPECT_THROW(ingest::open_frame_reader(path.string(), "mib"), ConfigError);
  }
  EXPECT_EQ(open_descriptors(), before);
}

// Edge case (fuzz_dectris, finding 3): a DECTRIS data file whose chunk index says an image's
// chunk holds about 1 GB (tests/data/fuzz/dectris_chunk_size_1gb.h5): read_encoded allocated that
// size before reading. Now a chunk larger than its image can take compressed is malformed, and
// nothing of that size is allocated.
TEST(ReaderFuzzFindings, DectrisChunkSizeFromACorruptIndexIsNotAllocated) {
  const std::string path = STEMFLOW_SOURCE_DIR "/tests/data/fuzz/dectris_chunk_size_1gb.h5";
  auto reader = ingest::open_frame_reader(path, "dectris");
  const auto& info = reader->info();
  ASSERT_GT(info.frames, 0u);
  ASSERT_LE(info.frame_bytes(), std::size_t{1} << 20);
  bool refused = false;
  for (std::uint64_t i : {std::uint64_t{0}, info.frames - 1}) {
    std::vector<std::uint8_t> buf;
    const auto r = reader->read_encoded(i, buf);
    EXPECT_LT(buf.capacity(), std::size_t{16} << 20) << "image " << i;
    if (!r && r.error().message.find("stored chunk of") != std::string::npos) refused = true;
    std::vector<std::uint8_t> frame(info.frame_bytes());
    (void)reader->read_frame(i, frame);
  }
  EXPECT_TRUE(refused);
}
