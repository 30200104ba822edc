// SPDX-License-Identifier: GPL-3.0-or-later
// Writes small valid inputs for each fuzz target, made by the encoders the simulator uses:
// make_seeds <dir> fills <dir>/codecs, <dir>/stream2, <dir>/stream1, <dir>/mpx and <dir>/wire.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "ingest/codecs/compression.hpp"
#include "ingest/dectris/stream1.hpp"
#include "ingest/dectris/stream2.hpp"
#include "ingest/merlin/mpx.hpp"
#include "ingest/native/wire.hpp"

namespace fs = std::filesystem;
using namespace stemflow;
using namespace stemflow::ingest;

namespace {

fs::path g_dir;

void put(const std::string& target, const std::string& name, std::span<const std::uint8_t> b) {
  fs::create_directories(g_dir / target);
  std::ofstream(g_dir / target / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
void put(const std::string& target, const std::string& name, const std::string& s) {
  put(target, name, {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}

std::vector<std::uint8_t> pattern(std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>((i * 7) % 5 == 0 ? i : 0);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <dir>\n", argv[0]);
    return 2;
  }
  g_dir = argv[1];
  constexpr std::uint32_t kRows = 8;
  constexpr std::uint32_t kCols = 12;
  const auto px = pattern(std::size_t{kRows} * kCols * 2);  // u16 frame
  std::vector<std::uint8_t> c;

  // codecs: selector byte (codec in bits 0-1, element size index in bits 2-3) + stream.
  const auto codec_seed = [&](std::uint8_t sel, codecs::Codec codec, std::size_t es) {
    codecs::compress(codec, es, px, c);
    std::vector<std::uint8_t> s{sel};
    s.insert(s.end(), c.begin(), c.end());
    put("codecs", std::string(codecs::codec_name(codec)) + "_" + std::to_string(es), s);
  };
  codec_seed(0x4, codecs::Codec::kBslz4, 2);
  codec_seed(0x0, codecs::Codec::kBslz4, 1);
  codec_seed(0x8, codecs::Codec::kBslz4, 4);
  codec_seed(0x1, codecs::Codec::kLz4Hdf5, 1);
  codec_seed(0x2, codecs::Codec::kLz4Block, 1);
  codecs::lz4_hdf5_compress(px, c, 64);
  c.insert(c.begin(), std::uint8_t{1});
  put("codecs", "lz4_blocks64", c);

  // stream2: start, image (none / bslz4 / lz4), end.
  std::vector<std::uint8_t> m;
  stream2::Start st;
  st.series_id = 3;
  st.series_unique_id = "u3";
  st.channels = {"threshold_1"};
  st.image_size_x = kCols;
  st.image_size_y = kRows;
  st.number_of_images = 4;
  st.detector_description = "fuzz";
  st.scan_shape = std::array<std::uint32_t, 2>{2, 2};
  st.metadata = {{"count_time", "0.001"}};
  stream2::encode_start(st, m);
  put("stream2", "start", m);
  for (auto codec : {codecs::Codec::kNone, codecs::Codec::kBslz4, codecs::Codec::kLz4Hdf5}) {
    codecs::compress(codec, 2, px, c);
    const stream2::ChannelData ch{"threshold_1", codec, c};
    stream2::encode_image(3, "u3", 1, kRows, kCols, Dtype::kU16, {&ch, 1}, m);
    put("stream2", "image_" + std::string(codecs::codec_name(codec)), m);
  }
  stream2::encode_end({3, "u3"}, m);
  put("stream2", "end", m);

  // stream1: parts joined with "\xff\xfe".
  const std::string sep = "\xff\xfe";
  const auto join = [&](const std::vector<std::string>& parts) {
    std::string s;
    for (std::size_t i = 0; i < parts.size(); ++i) s += (i ? sep : "") + parts[i];
    return s;
  };
  stream1::Header h1;
  h1.series = 5;
  h1.header_detail = "basic";
  h1.x_pixels = kCols;
  h1.y_pixels = kRows;
  h1.frames = 4;
  h1.description = "fuzz";
  h1.compression = "bslz4";
  h1.scan_shape = std::array<std::uint32_t, 2>{2, 2};
  put("stream1", "header", join(stream1::encode_header(h1)));
  for (auto codec : {codecs::Codec::kNone, codecs::Codec::kBslz4, codecs::Codec::kLz4Block}) {
    codecs::compress(codec, 2, px, c);
    const auto ip = stream1::encode_image(
        5, 0, kRows, kCols, Dtype::kU16, codec, c.size(), codecs::md5_hex(codecs::md5(c)));
    put("stream1",
        "image_" + std::string(codecs::codec_name(codec)),
        join({ip.part1, ip.part2, std::string(c.begin(), c.end()), ip.part4}));
  }
  put("stream1", "end", stream1::encode_end(5));

  // mpx: acquisition header, count frames (U08/U16/U32) and raw frames (1x1, 2x2, 2x2G).
  put("mpx", "acq_header", merlin::encode_acquisition_header(4, 12, 2, 2, "1x1"));
  put("mpx", "prefix_acq", merlin::mpx_prefix(100) + merlin::encode_acquisition_header(4, 6, 2, 2));
  for (auto [dt, depth] : {std::pair{Dtype::kU8, 6u}, {Dtype::kU16, 12u}, {Dtype::kU32, 24u}}) {
    const std::size_t n = std::size_t{kRows} * kCols * dtype_size(dt);
    std::string f = merlin::encode_frame_header(1, kCols, kRows, dt, depth);
    std::string p(n, '\0');
    const auto src = pattern(n);
    merlin::encode_pixels(dt, src, {reinterpret_cast<std::uint8_t*>(p.data()), p.size()});
    put("mpx", "frame_" + std::string(dtype_name(dt)), f + p);
  }
  for (std::uint32_t depth : {1u, 6u, 12u, 24u}) {
    const std::string hdr = merlin::encode_raw_frame_header(1, "1x1", depth, 8, 8);
    auto fh =
        merlin::parse_frame_header({reinterpret_cast<const std::uint8_t*>(hdr.data()), hdr.size()});
    if (!fh) continue;
    const auto src = pattern(fh->frame_bytes());
    put("mpx", "raw1x1_" + std::to_string(depth), hdr + merlin::encode_raw_frame(*fh, src));
  }
  for (const char* layout : {"2x2", "2x2G"}) {  // one 512x512 quad is big: only 1-bit
    const std::uint32_t side = std::string(layout) == "2x2" ? 512 : 514;
    const std::string hdr = merlin::encode_raw_frame_header(1, layout, 1, side, side);
    auto fh =
        merlin::parse_frame_header({reinterpret_cast<const std::uint8_t*>(hdr.data()), hdr.size()});
    if (!fh) continue;
    const std::vector<std::uint8_t> zeros(fh->frame_bytes());
    put("mpx", std::string("raw") + layout + "_1", hdr + merlin::encode_raw_frame(*fh, zeros));
  }

  // wire: start, frame, end.
  SeriesHeader sh;
  sh.series_id = 9;
  sh.scan_rows = 2;
  sh.scan_cols = 2;
  sh.frame_rows = kRows;
  sh.frame_cols = kCols;
  sh.detector = "fuzz";
  sh.metadata = {{"k", "v"}};
  wire::encode_start(sh, m);
  put("wire", "start", m);
  wire::encode_frame({9, 1, Dtype::kU16, px.size()}, m);
  put("wire", "frame", m);
  wire::encode_end({9, 4}, m);
  put("wire", "end", m);
  return 0;
}
