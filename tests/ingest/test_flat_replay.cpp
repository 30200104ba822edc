// SPDX-License-Identifier: GPL-3.0-or-later
// Replay of raw and .npy files: frames come back exactly; truncated files give what they hold and
// count the rest. Each case runs twice: read by the source, and read on another thread through
// FrameBatch::fill (read_on_workers, as the engine runs it).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <thread>

#include "ingest/npy.hpp"
#include "ingest/replay/replay_source.hpp"
#include "pipeline/core/expected.hpp"

using namespace stemflow;
using ingest::SourceStatus;

namespace {

std::filesystem::path temp_file(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / "stemflow-test-flat-replay";
  std::filesystem::create_directories(dir);
  return dir / name;
}

struct Replay {
  std::vector<std::uint16_t> pixels;  // by scan position
  std::vector<std::uint8_t> seen;
  SeriesCounts counts;
  SeriesHeader header;
};

Replay replay(ingest::ReplayOptions o,
              bool on_workers = false,
              const std::function<void()>& after_open = {}) {
  o.read_on_workers = on_workers;
  BatchPool pool(1 << 20);
  ingest::ReplaySource src(pool, o);
  if (after_open) after_open();
  Replay r;
  for (;;) {
    const auto s = src.next();
    if (s == SourceStatus::kSeriesStarted) {
      r.header = src.header();
      pool.configure(r.header, 3, {});
      r.pixels.assign(r.header.scan_size() * r.header.frame_pixels(), 0);
      r.seen.assign(r.header.scan_size(), 0);
    } else if (s == SourceStatus::kBatchReady) {
      FrameBatch* b = src.take_batch();
      EXPECT_EQ(b->fill != nullptr, on_workers);
      if (b->fill != nullptr) {
        std::thread worker([b] { b->fill->fill(*b); });
        worker.join();
      }
      for (std::uint32_t i = 0; i < b->count; ++i) {
        std::memcpy(
            &r.pixels[b->index[i] * r.header.frame_pixels()], b->frame_data(i), b->frame_bytes);
        r.seen[b->index[i]] = 1;
      }
      pool.release(b);
    } else if (s == SourceStatus::kSeriesEnded) {
      src.settle();  // as the engine does once the graph is empty
      r.counts = src.counts();
    } else if (s == SourceStatus::kFinished) {
      break;
    }
  }
  return r;
}

std::vector<std::uint16_t> scan_data(std::size_t n) {
  std::vector<std::uint16_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

class FlatReplay : public testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(ReadBy, FlatReplay, testing::Values(false, true), [](const auto& info) {
  return info.param ? "Workers" : "Source";
});

}  // namespace

// Spec: a 4-D .npy replays with its own shape and every pixel in place.
TEST_P(FlatReplay, NpyReplaysExactly) {
  const auto path = temp_file("scan.npy");
  const auto data = scan_data(3 * 4 * 8 * 6);
  {
    std::ofstream f(path, std::ios::binary);
    ingest::write_npy_header(f, Dtype::kU16, {3, 4, 8, 6});
    f.write(reinterpret_cast<const char*>(data.data()), data.size() * 2);
  }
  ingest::ReplayOptions o;
  o.path = path.string();
  const auto r = replay(o, GetParam());
  EXPECT_EQ(r.header.scan_rows, 3u);
  EXPECT_EQ(r.header.scan_cols, 4u);
  EXPECT_EQ(r.header.frame_rows, 8u);
  EXPECT_EQ(r.header.frame_cols, 6u);
  EXPECT_EQ(r.counts.end, SeriesEnd::kEndOfFile);
  EXPECT_EQ(r.counts.frames_accepted, 12u);
  EXPECT_EQ(r.pixels, data);
}

// Spec: a raw file needs frame and scan shapes and skips its header bytes.
TEST_P(FlatReplay, RawWithHeaderOffset) {
  const auto path = temp_file("scan.raw");
  const auto data = scan_data(2 * 2 * 4 * 4);
  {
    std::ofstream f(path, std::ios::binary);
    f.write("HEADER!!", 8);
    f.write(reinterpret_cast<const char*>(data.data()), data.size() * 2);
  }
  ingest::ReplayOptions o;
  o.path = path.string();
  o.raw.frame_shape = {4, 4};
  o.scan_shape = {2, 2};
  o.raw.header_bytes = 8;
  const auto r = replay(o, GetParam());
  EXPECT_EQ(r.counts.frames_accepted, 4u);
  EXPECT_EQ(r.pixels, data);
  o.scan_shape = {0, 0};
  BatchPool pool(1 << 16);
  EXPECT_THROW(ingest::ReplaySource(pool, o), ConfigError);
}

// Edge case: a file cut inside frame 2 gives frames 0 and 1, counts the cut frame as wrong_size
// and leaves the rest of the scan uncovered.
TEST_P(FlatReplay, TruncatedFileKeepsWhatItHolds) {
  const auto path = temp_file("cut.npy");
  const auto data = scan_data(2 * 3 * 4 * 4);
  {
    std::ofstream f(path, std::ios::binary);
    ingest::write_npy_header(f, Dtype::kU16, {2, 3, 4, 4});
    f.write(reinterpret_cast<const char*>(data.data()), (2 * 16 + 5) * 2);
  }
  ingest::ReplayOptions o;
  o.path = path.string();
  const auto r = replay(o, GetParam());
  EXPECT_EQ(r.counts.frames_accepted, 2u);
  EXPECT_EQ(r.counts.dropped[static_cast<std::size_t>(DropReason::kWrongSize)], 1u);
  EXPECT_EQ(r.seen, (std::vector<std::uint8_t>{1, 1, 0, 0, 0, 0}));
  EXPECT_TRUE(std::equal(data.begin(), data.begin() + 32, r.pixels.begin()));
}

// Error guessing: the file shrinks after it was opened (overwritten while replayed). Frames the
// reads no longer find are dropped as wrong_size, counted once: with reads on the workers they
// were already placed in a batch, which loses them again (the batch is compacted, the frames that
// were read stay in place).
TEST_P(FlatReplay, FileCutAfterOpenCountsEveryFrame) {
  const auto path = temp_file("shrinks.npy");
  const auto data = scan_data(2 * 3 * 4 * 4);
  std::uint64_t header_bytes = 0;
  {
    std::ofstream f(path, std::ios::binary);
    ingest::write_npy_header(f, Dtype::kU16, {2, 3, 4, 4});
    header_bytes = static_cast<std::uint64_t>(f.tellp());
    f.write(reinterpret_cast<const char*>(data.data()), data.size() * 2);
  }
  ingest::ReplayOptions o;
  o.path = path.string();
  // The file keeps 2.5 frames: 0 and 1 whole, 2 cut, 3-5 gone.
  const auto r = replay(
      o, GetParam(), [&] { std::filesystem::resize_file(path, header_bytes + (2 * 16 + 8) * 2); });
  EXPECT_EQ(r.counts.frames_received, 6u);
  EXPECT_EQ(r.counts.frames_accepted, 2u);
  EXPECT_EQ(r.counts.dropped[static_cast<std::size_t>(DropReason::kWrongSize)], 4u);
  EXPECT_EQ(r.counts.frames_received, r.counts.frames_accepted + r.counts.dropped_total());
  EXPECT_EQ(r.seen, (std::vector<std::uint8_t>{1, 1, 0, 0, 0, 0}));
  EXPECT_TRUE(std::equal(data.begin(), data.begin() + 32, r.pixels.begin()));
  EXPECT_EQ(r.counts.bytes_received, 2u * 32);
}

// Edge case: a file that is not .npy, or not there, is a configuration error, not a crash.
TEST(FlatReplay, BadFilesAreConfigErrors) {
  BatchPool pool(1 << 16);
  ingest::ReplayOptions o;
  o.path = temp_file("missing.npy").string();
  EXPECT_THROW(ingest::ReplaySource(pool, o), ConfigError);
  const auto path = temp_file("garbage.npy");
  std::ofstream(path) << "this is not numpy";
  o.path = path.string();
  EXPECT_THROW(ingest::ReplaySource(pool, o), ConfigError);
}
