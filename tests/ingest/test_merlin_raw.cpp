// SPDX-License-Identifier: GPL-3.0-or-later
// Raw (R64) Merlin frames of one chip and of a 2x2 quad (2x2, and 2x2G with its 2-pixel gap) at 1,
// 6, 12 and 24 bit: header parsing, encode/decode round trips, the quad layout checked position by
// position as LiberTEM documents it, LiberTEM's own decoding of the same raw bytes
// (tests/data/merlin/golden.json), and raw quad .mib files and live TCP frames end to end.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "ingest/merlin/merlin_source.hpp"
#include "ingest/merlin/mib_file.hpp"
#include "ingest/merlin/mpx.hpp"
#include "ingest/replay/replay_source.hpp"
#include "sha256.hpp"
#include "source_harness.hpp"
#include "tests/support/process.hpp"

using namespace stemflow;
namespace merlin = stemflow::ingest::merlin;
namespace fs = std::filesystem;

namespace {

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

merlin::FrameHeader raw_header(std::string_view layout,
                               std::uint32_t depth,
                               std::uint32_t rows,
                               std::uint32_t cols) {
  const auto text = merlin::encode_raw_frame_header(1, layout, depth, rows, cols);
  auto h = merlin::parse_frame_header(bytes_of(text));
  EXPECT_TRUE(h) << h.error().message;
  return h.value_or(merlin::FrameHeader{});
}

Dtype dtype_of(std::uint32_t depth) {
  return depth <= 6 ? Dtype::kU8 : depth == 12 ? Dtype::kU16 : Dtype::kU32;
}

// A random frame of `depth`-bit values, little-endian in the decoded dtype; gap pixels of a 2x2G
// frame are 0 (what the decoder gives them).
std::vector<std::uint8_t> random_frame(const merlin::FrameHeader& h, std::uint32_t seed) {
  std::mt19937 rng(seed);
  const std::size_t es = dtype_size(h.dtype);
  std::vector<std::uint8_t> px(std::size_t{h.width} * h.height * es);
  const std::uint32_t max = (1u << h.counter_depth) - 1;
  for (std::size_t y = 0; y < h.height; ++y) {
    for (std::size_t x = 0; x < h.width; ++x) {
      const bool gap = h.chip_layout == merlin::ChipLayout::kQuadGap &&
                       ((y >= 256 && y < 258) || (x >= 256 && x < 258));
      const std::uint32_t v = gap ? 0 : rng() & max;
      std::memcpy(px.data() + (y * h.width + x) * es, &v, es);
    }
  }
  return px;
}

std::uint32_t pixel(const std::vector<std::uint8_t>& frame, Dtype dt, std::size_t i) {
  std::uint32_t v = 0;
  std::memcpy(&v, frame.data() + i * dtype_size(dt), dtype_size(dt));
  return v;
}

// SplitMix64, as make_golden.py draws the raw bytes.
struct SplitMix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

std::vector<std::uint8_t> golden_raw(std::uint32_t depth, std::size_t pixels, std::uint64_t seed) {
  SplitMix64 g{seed};
  std::vector<std::uint8_t> raw;
  if (depth == 1 || depth == 6) {
    raw.resize(depth == 1 ? pixels / 8 : pixels);
    for (auto& b : raw) b = static_cast<std::uint8_t>(g.next() & (depth == 1 ? 0xFF : 0x3F));
    return raw;
  }
  const std::size_t count = pixels * (depth == 24 ? 2 : 1);
  raw.resize(2 * count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto v = static_cast<std::uint16_t>(g.next() & 0x0FFF);
    raw[2 * i] = static_cast<std::uint8_t>(v >> 8);
    raw[2 * i + 1] = static_cast<std::uint8_t>(v & 0xFF);
  }
  return raw;
}

fs::path temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() /
           ("stemflow-merlin-raw-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

}  // namespace

// Spec: a raw quad header (1024 x 256 wire pixels, four chips) gives the assembled frame shape:
// 512 x 512 for 2x2, 514 x 514 for 2x2G (LiberTEM-rs base_types.rs); 24-bit raw has its width
// doubled on the wire (LiberTEM mib.py halves it); pixel bytes follow the counter depth.
TEST(MerlinRaw, HeaderGivesAssembledShape) {
  struct Case {
    std::string_view layout;
    std::uint32_t depth, side, wire_width;
    std::size_t pixel_bytes;
    merlin::ChipLayout chips;
  };
  constexpr std::size_t kQuadPx = 512 * 512;
  for (const Case& c : {Case{"2x2", 1, 512, 1024, kQuadPx / 8, merlin::ChipLayout::kQuad},
                        Case{"2x2", 6, 512, 1024, kQuadPx, merlin::ChipLayout::kQuad},
                        Case{"2x2", 12, 512, 1024, 2 * kQuadPx, merlin::ChipLayout::kQuad},
                        Case{"2x2", 24, 512, 2048, 4 * kQuadPx, merlin::ChipLayout::kQuad},
                        Case{"2x2G", 1, 514, 1024, kQuadPx / 8, merlin::ChipLayout::kQuadGap},
                        Case{"2x2G", 12, 514, 1024, 2 * kQuadPx, merlin::ChipLayout::kQuadGap},
                        Case{"2x2G", 24, 514, 2048, 4 * kQuadPx, merlin::ChipLayout::kQuadGap},
                        Case{"1x1", 12, 256, 256, 2 * 65536, merlin::ChipLayout::kSingle},
                        Case{"1x1", 24, 256, 512, 4 * 65536, merlin::ChipLayout::kSingle}}) {
    SCOPED_TRACE(std::string(c.layout) + " " + std::to_string(c.depth));
    const auto h = raw_header(c.layout, c.depth, c.side, c.side);
    EXPECT_TRUE(h.raw);
    EXPECT_EQ(h.chip_layout, c.chips);
    EXPECT_EQ(h.width, c.side);
    EXPECT_EQ(h.height, c.side);
    EXPECT_EQ(h.wire_width, c.wire_width);
    EXPECT_EQ(h.wire_height, 256u);
    EXPECT_EQ(h.pixel_bytes, c.pixel_bytes);
    EXPECT_EQ(h.dtype, dtype_of(c.depth));
    EXPECT_EQ(h.data_offset, c.chips == merlin::ChipLayout::kSingle ? 384u : 768u);
  }
}

// Edge case: raw layouts no peer decodes (Nx1, a 2x2 without all four chips, a quad that is not
// four 256 x 256 chips) are refused as wrong_dtype, not decoded into a wrong picture.
TEST(MerlinRaw, UnsupportedLayoutsAreRefused) {
  auto parse = [](std::string head) {
    head.resize(768, '\0');
    return merlin::parse_frame_header(bytes_of(head));
  };
  const std::string tail = ",0F,x,0,0,0,0,MQ1A,t,1ns,12,";
  for (const std::string& head : {"MQ1,000001,00768,04,1024,0256,R64,   Nx1" + tail,
                                  "MQ1,000001,00768,04,1024,0256,R64,  Nx1G" + tail,
                                  "MQ1,000001,00768,02,0512,0256,R64,   2x2" + tail,
                                  "MQ1,000001,00768,04,1024,0128,R64,   2x2" + tail}) {
    SCOPED_TRACE(head.substr(0, 42));
    const auto h = parse(head);
    ASSERT_FALSE(h);
    EXPECT_EQ(h.error().code, "wrong_dtype");
  }
  // Counts (U16) quads are assembled by Merlin itself and pass as they are.
  const auto u16 = parse("MQ1,000001,00768,04,0514,0514,U16,  2x2G" + tail);
  ASSERT_TRUE(u16) << u16.error().message;
  EXPECT_EQ(u16->width, 514u);
  EXPECT_EQ(u16->pixel_bytes, 2u * 514 * 514);
}

// Spec: every layout (1x1, 2x2, 2x2G) at every counter depth (1, 6, 12, 24) decodes the encoding of
// a frame back to that frame; gap pixels are written as 0 whatever the destination held.
TEST(MerlinRaw, EveryLayoutAndDepthRoundTrips) {
  for (std::string_view layout : {"1x1", "2x2", "2x2G"}) {
    for (std::uint32_t depth : {1u, 6u, 12u, 24u}) {
      SCOPED_TRACE(std::string(layout) + " " + std::to_string(depth));
      const std::uint32_t side = layout == "1x1" ? 256 : layout == "2x2" ? 512 : 514;
      const auto h = raw_header(layout, depth, side, side);
      const auto px = random_frame(h, depth * 7 + side);
      const std::string raw = merlin::encode_raw_frame(h, px);
      ASSERT_EQ(raw.size(), h.pixel_bytes);
      std::vector<std::uint8_t> out(h.frame_bytes(), 0xAB);
      const auto r = merlin::decode_pixels(h, bytes_of(raw), out);
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_EQ(out, px);
    }
  }
}

// Spec: the simulator's encoder takes frames of any integer dtype: at every depth and layout, from
// u8, u16 and u32 frames of values over the dtype's whole range, the decoded frame holds each value
// clamped to the depth's maximum, and the count it returns is that of the values clamped (2x2G gap
// pixels are not sent and not counted).
TEST(MerlinRaw, EncoderClampsToTheDepthFromAnyDtype) {
  for (std::string_view layout : {"1x1", "2x2", "2x2G"}) {
    for (std::uint32_t depth : {1u, 6u, 12u, 24u}) {
      for (Dtype in_dt : {Dtype::kU8, Dtype::kU16, Dtype::kU32}) {
        SCOPED_TRACE(std::string(layout) + " " + std::to_string(depth) + " from " +
                     std::string(dtype_name(in_dt)));
        const std::uint32_t side = layout == "1x1" ? 256 : layout == "2x2" ? 512 : 514;
        const auto h = raw_header(layout, depth, side, side);
        const std::size_t n = std::size_t{side} * side, in_es = dtype_size(in_dt);
        const std::uint32_t max = (1u << depth) - 1;
        std::mt19937 rng(depth + side + static_cast<std::uint32_t>(in_es));
        std::vector<std::uint8_t> px(n * in_es);
        std::vector<std::uint32_t> want(n, 0);
        std::uint64_t clamped = 0;
        for (std::size_t i = 0; i < n; ++i) {
          // Small values as often as large ones, so that both sides of the maximum are hit.
          std::uint32_t v = rng();
          if (rng() % 2 == 0) v &= max;
          if (in_es < 4) v &= (1u << (8 * in_es)) - 1;
          std::memcpy(px.data() + i * in_es, &v, in_es);
          const std::size_t y = i / side, x = i % side;
          const bool gap = h.chip_layout == merlin::ChipLayout::kQuadGap &&
                           ((y >= 256 && y < 258) || (x >= 256 && x < 258));
          if (gap) continue;
          want[i] = std::min(v, max);
          if (v > max) ++clamped;
        }
        std::vector<std::uint8_t> raw(h.pixel_bytes);
        EXPECT_EQ(merlin::encode_raw_frame(h, in_dt, px, raw), clamped);
        std::vector<std::uint8_t> out(h.frame_bytes());
        ASSERT_TRUE(merlin::decode_pixels(h, raw, out));
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < n; ++i) {
          if (pixel(out, h.dtype, i) != want[i] && wrong++ < 5) {
            ADD_FAILURE() << "pixel " << i << ": " << pixel(out, h.dtype, i) << ", expected "
                          << want[i];
          }
        }
        EXPECT_EQ(wrong, 0u);
      }
    }
  }
}

// Spec: renumbering a frame header in place gives the header made anew for that sequence number,
// for counts and raw headers; a number longer than the field's 6 digits is refused and leaves the
// header as it was.
TEST(MerlinRaw, FrameSequenceIsRenumberedInPlace) {
  for (int raw = 0; raw < 2; ++raw) {
    SCOPED_TRACE(raw ? "raw 2x2G" : "counts");
    const auto make = [&](std::uint64_t seq) {
      return raw ? merlin::encode_raw_frame_header(seq, "2x2G", 12, 514, 514)
                 : merlin::encode_frame_header(seq, 56, 40, Dtype::kU16, 12);
    };
    std::string h = make(1);
    for (std::uint64_t seq : {std::uint64_t{2}, std::uint64_t{4711}, std::uint64_t{999999}}) {
      ASSERT_TRUE(merlin::set_frame_sequence(h, seq));
      EXPECT_EQ(h, make(seq));
    }
    const std::string before = h;
    EXPECT_FALSE(merlin::set_frame_sequence(h, 1000000));
    EXPECT_EQ(h, before);
    const auto parsed = merlin::parse_frame_header(bytes_of(make(1000000)));
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->sequence, 1000000u);
  }
}

// Spec: the raw quad layout, position by position, as LiberTEM documents it (mib.py
// `_mib_2x2_tile_block`: raw rows are [Q4 | Q3 | Q2 | Q1], Q3 and Q4 flipped in x and y;
// LiberTEM-rs decoder.rs adds the 2x2G gap), with the single-chip word order of mib.py
// `decode_r*_swap`. The expected frame is built here from those rules alone, not from the encoder.
TEST(MerlinRaw, QuadLayoutIsLiberTEMs) {
  for (std::string_view layout : {"2x2", "2x2G"}) {
    for (std::uint32_t depth : {1u, 6u, 12u}) {
      SCOPED_TRACE(std::string(layout) + " " + std::to_string(depth));
      const std::uint32_t side = layout == "2x2" ? 512 : 514;
      const std::uint32_t gap = side - 512;
      const auto h = raw_header(layout, depth, side, side);
      std::mt19937 rng(depth + side);
      std::vector<std::uint8_t> raw(h.pixel_bytes);
      for (auto& b : raw) b = static_cast<std::uint8_t>(rng());
      if (depth == 6) {
        for (auto& b : raw) b &= 0x3F;
      }
      if (depth == 12) {
        for (std::size_t i = 0; i < raw.size(); i += 2) raw[i] &= 0x0F;
      }
      // Raw pixel p of raw row r (0..1023, in stored order) and its value.
      auto raw_value = [&](std::size_t r, std::size_t p) -> std::uint32_t {
        const std::size_t word = p / (depth == 1 ? 64 : depth == 6 ? 8 : 4);
        const std::size_t row_bytes = 1024 * (depth == 1 ? 1 : depth == 6 ? 8 : 16) / 8;
        const std::uint8_t* w = raw.data() + r * row_bytes + 8 * word;
        if (depth == 1) {  // byte b (of 8) holds pixels 8 * (7 - b) ... +7, bit 0 first
          const std::size_t k = p % 64;
          return (w[7 - k / 8] >> (k % 8)) & 1u;
        }
        if (depth == 6) return w[7 - p % 8];  // bytes reversed within the word
        const std::size_t k = 3 - p % 4;      // big-endian u16s reversed within the word
        return (std::uint32_t{w[2 * k]} << 8) | w[2 * k + 1];
      };
      std::vector<std::uint32_t> expected(std::size_t{side} * side, 0);
      for (std::size_t r = 0; r < 256; ++r) {
        for (std::size_t p = 0; p < 1024; ++p) {
          const std::size_t quadrant = 4 - p / 256;  // [Q4 | Q3 | Q2 | Q1]
          const std::size_t i = p % 256;
          std::size_t y = r, x = i;
          if (quadrant == 2) x = 256 + gap + i;
          if (quadrant == 3) y = side - 1 - r, x = 255 - i;
          if (quadrant == 4) y = side - 1 - r, x = side - 1 - i;
          expected[y * side + x] = raw_value(r, p);
        }
      }
      std::vector<std::uint8_t> out(h.frame_bytes());
      ASSERT_TRUE(merlin::decode_pixels(h, raw, out));
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < expected.size(); ++i) {
        if (pixel(out, h.dtype, i) != expected[i] && wrong++ < 5) {
          ADD_FAILURE() << "pixel (" << i / side << ", " << i % side
                        << "): " << pixel(out, h.dtype, i) << ", expected " << expected[i];
        }
      }
      EXPECT_EQ(wrong, 0u);
    }
  }
}

// Spec: the raw frames of golden.json, decoded by LiberTEM 0.16 (make_golden.py beside it), decode
// here to the same pixels: 1x1 at 1/6/12/24 bit, 2x2 at 1/6/12 bit, and 2x2G at 12 bit (LiberTEM
// reads it without the gap: our 514 x 514 frame less the gap rows and columns must equal it, and
// the gap must be 0).
TEST(MerlinRawGolden, DecodesAsLiberTEM) {
  const fs::path path = fs::path(STEMFLOW_SOURCE_DIR) / "tests" / "data" / "merlin" / "golden.json";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  const auto golden = nlohmann::json::parse(in);
  ASSERT_GE(golden["cases"].size(), 8u);
  for (const auto& c : golden["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    std::string head = c["header"];
    auto h = merlin::parse_frame_header(bytes_of(head));
    ASSERT_TRUE(h) << h.error().message;
    head.resize(h->data_offset, '\0');
    h = merlin::parse_frame_header(bytes_of(head));
    ASSERT_TRUE(h) << h.error().message;
    const std::uint32_t depth = c["counter_depth"];
    EXPECT_EQ(h->counter_depth, depth);
    const std::size_t chip_px = h->chips * std::size_t{65536};
    const auto raw = golden_raw(depth, chip_px, c["seed"].get<std::uint64_t>());
    ASSERT_EQ(raw.size(), c["raw_bytes"].get<std::size_t>());
    ASSERT_EQ(test::Sha256::of(raw), c["raw_sha256"].get<std::string>())
        << "raw bytes not drawn as make_golden.py draws them";
    ASSERT_EQ(raw.size(), h->pixel_bytes);
    std::vector<std::uint8_t> out(h->frame_bytes(), 0xAB);
    const auto r = merlin::decode_pixels(*h, raw, out);
    ASSERT_TRUE(r) << r.error().message;

    // LiberTEM's frame has no gap: take ours without it.
    const std::uint32_t rows = c["libertem_shape"][0], cols = c["libertem_shape"][1];
    const std::size_t es = dtype_size(h->dtype);
    std::vector<std::uint8_t> ours(std::size_t{rows} * cols * es);
    const std::uint32_t gap = h->width - cols;
    ASSERT_EQ(h->height - rows, gap);
    for (std::uint32_t y = 0; y < rows; ++y) {
      const std::uint32_t sy = y < rows / 2 ? y : y + gap;
      for (std::uint32_t x = 0; x < cols; ++x) {
        const std::uint32_t sx = x < cols / 2 ? x : x + gap;
        std::memcpy(ours.data() + (std::size_t{y} * cols + x) * es,
                    out.data() + (std::size_t{sy} * h->width + sx) * es,
                    es);
      }
    }
    for (const auto& s : c["samples"]) {
      const std::size_t y = s[0], x = s[1];
      EXPECT_EQ(pixel(ours, h->dtype, y * cols + x), s[2].get<std::uint32_t>())
          << "at (" << y << ", " << x << ")";
    }
    EXPECT_EQ(test::Sha256::of(ours), c["decoded_sha256"].get<std::string>());
    if (gap > 0) {
      std::size_t nonzero = 0;
      for (std::uint32_t y = 0; y < h->height; ++y) {
        for (std::uint32_t x = 0; x < h->width; ++x) {
          const bool in_gap =
              (y >= rows / 2 && y < rows / 2 + gap) || (x >= cols / 2 && x < cols / 2 + gap);
          if (in_gap && pixel(out, h->dtype, std::size_t{y} * h->width + x) != 0) ++nonzero;
        }
      }
      EXPECT_EQ(nonzero, 0u) << "gap pixels must be 0";
    }
  }
}

// Spec: a .mib file of raw 2x2G 12-bit frames (768-byte headers, 1024 x 256 raw pixels) replays as
// 514 x 514 u16 frames, frame for frame; `stemflow info` reports the assembled shape and the raw
// one.
TEST(MerlinRaw, MibFileOfRawQuadsReplays) {
  const auto dir = temp_dir("mib");
  constexpr std::uint32_t kFrames = 4;
  const auto h = raw_header("2x2G", 12, 514, 514);
  std::vector<std::vector<std::uint8_t>> frames;
  {
    std::ofstream f(dir / "quad.mib", std::ios::binary);
    for (std::uint32_t i = 0; i < kFrames; ++i) {
      frames.push_back(random_frame(h, 100 + i));
      const auto head = merlin::encode_raw_frame_header(i + 1, "2x2G", 12, 514, 514);
      const auto raw = merlin::encode_raw_frame(h, frames.back());
      f << head << raw;
    }
    std::ofstream(dir / "quad.hdr") << merlin::encode_acquisition_header(kFrames, 12, 2, 2);
  }
  ingest::MibFileReader reader((dir / "quad.mib").string());
  const auto& info = reader.info();
  EXPECT_EQ(info.frames, kFrames);
  EXPECT_EQ(info.frame_rows, 514u);
  EXPECT_EQ(info.frame_cols, 514u);
  EXPECT_EQ(info.dtype, Dtype::kU16);
  EXPECT_EQ(info.compression, "raw R64 12-bit");
  const std::string text = ingest::describe(info);
  EXPECT_NE(text.find("frame shape: 514 x 514"), std::string::npos) << text;
  EXPECT_NE(text.find("raw_shape: 256 x 1024"), std::string::npos) << text;
  EXPECT_NE(text.find("layout: 2x2G"), std::string::npos) << text;

  BatchPool pool(8 << 20);
  ingest::ReplayOptions o;
  o.path = (dir / "quad.mib").string();
  ingest::ReplaySource src(pool, o);
  const auto got = test::drain(src, pool, 1, std::chrono::seconds(30), 2);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].header.frame_rows, 514u);
  EXPECT_EQ(got[0].counts.frames_accepted, kFrames);
  for (std::uint32_t i = 0; i < kFrames; ++i) {
    EXPECT_EQ(0, std::memcmp(got[0].frame(i), frames[i].data(), frames[i].size())) << "frame " << i;
  }
  fs::remove_all(dir);
}

// Spec: raw quad frames over the Merlin data port (a detector stand-in written here, apart from
// stemflow-sim's sender, which test_protocol_sources checks) start a series of the assembled shape
// and arrive bit for bit, at 1, 6, 12 and 24 bit, 2x2 and 2x2G.
TEST(MerlinRaw, LiveRawQuadFramesArrive) {
  for (std::string_view layout : {"2x2", "2x2G"}) {
    for (std::uint32_t depth : {1u, 6u, 12u, 24u}) {
      SCOPED_TRACE(std::string(layout) + " " + std::to_string(depth));
      const std::uint32_t side = layout == "2x2" ? 512 : 514;
      const auto h = raw_header(layout, depth, side, side);
      constexpr std::uint32_t kFrames = 3;
      std::vector<std::vector<std::uint8_t>> frames;
      for (std::uint32_t i = 0; i < kFrames; ++i)
        frames.push_back(random_frame(h, 200 + i + depth));

      const int port = test::free_port();
      const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      const int one = 1;
      ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<std::uint16_t>(port));
      ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
      ASSERT_EQ(::listen(lfd, 1), 0);
      std::thread detector([&] {
        const int fd = ::accept(lfd, nullptr, nullptr);
        if (fd < 0) return;
        auto send_all = [&](const std::string& s) {
          for (std::size_t off = 0; off < s.size();) {
            const ssize_t k = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
            if (k <= 0) return;
            off += static_cast<std::size_t>(k);
          }
        };
        const std::string hdr = merlin::encode_acquisition_header(kFrames, depth, kFrames, 1);
        send_all(merlin::mpx_prefix(hdr.size()) + hdr);
        for (std::uint32_t i = 0; i < kFrames; ++i) {
          const auto head = merlin::encode_raw_frame_header(i + 1, layout, depth, side, side);
          const auto raw = merlin::encode_raw_frame(h, frames[i]);
          send_all(merlin::mpx_prefix(head.size() + raw.size()) + head + raw);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        ::close(fd);
      });

      BatchPool pool(8 << 20);
      ingest::MerlinOptions o;
      o.endpoint = "tcp://127.0.0.1:" + std::to_string(port);
      o.series_timeout = std::chrono::milliseconds(5000);
      o.reconnect_interval = std::chrono::milliseconds(50);
      ingest::MerlinSource src(pool, o);
      const auto got = test::drain(src, pool, 1, std::chrono::seconds(20), 2);
      detector.join();
      ::close(lfd);
      ASSERT_EQ(got.size(), 1u);
      const auto& s = got[0];
      EXPECT_EQ(s.header.frame_rows, side);
      EXPECT_EQ(s.header.frame_cols, side);
      EXPECT_EQ(s.header.dtype, dtype_of(depth));
      EXPECT_EQ(s.counts.end, SeriesEnd::kComplete);
      EXPECT_EQ(s.counts.frames_accepted, kFrames);
      EXPECT_EQ(s.counts.dropped_total(), 0u);
      for (std::uint32_t i = 0; i < kFrames; ++i) {
        EXPECT_EQ(0, std::memcmp(s.frame(i), frames[i].data(), frames[i].size())) << "frame " << i;
      }
    }
  }
}
