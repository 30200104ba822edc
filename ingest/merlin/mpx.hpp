// SPDX-License-Identifier: GPL-3.0-or-later
// Quantum Detectors Merlin (Medipix3) formats (docs/protocols.md section 4): the TCP
// framing "MPX,<10-digit length>,<payload>", the acquisition header (HDR ... End), the MQ1 frame
// header and the pixel encodings (big-endian counts U08/U16/U32; raw R64 at 1/6/12/24 bit, of one
// chip or of a 2x2 quad, which is assembled into 512x512, or 514x514 with the 2x2G gap). Shared by
// the TCP receiver, the .mib reader and stemflow-sim's sender.
//
// Raw quad layout (as LiberTEM decodes it: LiberTEM io/dataset/mib.py `_mib_2x2_tile_block` and
// `decode_r*_swap_2x2`, LiberTEM-live merlin/decoders.py `decode_quad_r*`, LiberTEM-rs
// libertem_qd_mpx/src/decoder.rs `decode_2x2_raw`): the 256 raw rows of 1024 pixels each hold one
// row of every chip, in the order [Q4 | Q3 | Q2 | Q1] for the assembled frame
//     | Q1 | Q2 |
//     | Q3 | Q4 |
// raw row r is row r of Q1 and Q2, and row 255 - r of Q3 and Q4, which are also mirrored in x.
// Within each chip row the single-chip "swap" encoding applies (64-bit words, see decode_pixels).
// 2x2G (LiberTEM-rs; the LiberTEM file reader drops the G and gives 512x512) puts two zero gap
// rows and columns between the chips: Q2 and Q4 start at column 258, Q3 and Q4 at row 258.
// 24-bit raw is two 12-bit raw frames, high 12 bits first, and its MQ1 width is doubled (LiberTEM
// halves it); for a quad, each half is laid out as a 12-bit quad frame (no peer decodes 24-bit
// quads: this follows from the two rules above and is not checked against a real file).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "pipeline/core/expected.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow::ingest::merlin {

constexpr std::size_t kMpxPrefixBytes = 15;  // "MPX," + 10 digits + ","
constexpr std::uint64_t kMaxMessageBytes = std::uint64_t{1} << 32;

//! The payload length after a 15-byte prefix; errors "malformed".
Expected<std::uint64_t> parse_mpx_prefix(std::span<const std::uint8_t> prefix);
std::string mpx_prefix(std::uint64_t payload_bytes);

struct AcquisitionHeader {
  std::uint64_t frames = 0;              // Frames in Acquisition (Number)
  std::uint64_t frames_per_trigger = 0;  // Frames per Trigger (Number)
  std::uint32_t counter_depth = 0;       // Counter Depth (number)
  std::optional<std::uint32_t> scan_x;   // ScanX (software >= 1.6.1): positions per row
  std::optional<std::uint32_t> scan_y;
  std::map<std::string, std::string> fields;
};
Expected<AcquisitionHeader> parse_acquisition_header(std::span<const std::uint8_t> payload);
//! An acquisition header as Merlin sends it (HDR, key:value lines, End), for the simulator;
//! `assembly` is the Assembly Size line's value (1x1, 2x2, 2x2G).
std::string encode_acquisition_header(std::uint64_t frames,
                                      std::uint32_t counter_depth,
                                      std::uint32_t scan_x,
                                      std::uint32_t scan_y,
                                      std::string_view assembly = "1x1");

constexpr std::uint32_t kChipPixels = 256;  // a Medipix3 chip is 256 x 256 pixels
constexpr std::uint32_t kGapPixels = 2;     // 2x2G: gap rows / columns between the chips

//! How a raw (R64) frame's chips are laid out on the wire, and so how it is decoded.
enum class ChipLayout {
  kSingle,   // one chip (1x1): pixels in order
  kQuad,     // 2x2: rows of the four chips interleaved, assembled into 512 x 512
  kQuadGap,  // 2x2G: as kQuad, assembled into 514 x 514 with zero gap pixels
};

struct FrameHeader {
  std::uint64_t sequence = 0;   // 1-based
  std::size_t data_offset = 0;  // header bytes before the pixels
  std::uint32_t chips = 1;
  std::uint32_t width = 0;          // columns of the decoded frame (raw quads: 512 or 514)
  std::uint32_t height = 0;         // rows of the decoded frame
  std::uint32_t wire_width = 0;     // the header's width and height as sent (raw quads: 1024 x 256,
  std::uint32_t wire_height = 0;    // width doubled at 24 bit)
  std::string pixel_type;           // U08, U16, U32, U64, R64
  std::string layout;               // 1x1, 2x2, 2x2G, Nx1, ...
  std::uint32_t counter_depth = 0;  // 1, 6, 12, 24 (from MQ1A; 0 if absent)
  bool raw = false;                 // R64
  ChipLayout chip_layout = ChipLayout::kSingle;  // raw frames only
  Dtype dtype = Dtype::kU16;                     // what the frame becomes
  std::size_t pixel_bytes = 0;                   // bytes of pixel data after the header

  std::size_t frame_bytes() const { return std::size_t{width} * height * dtype_size(dtype); }
};
//! Parses an MQ1 header at the start of `bytes` (at least data_offset bytes are not needed: only
//! the fields). Errors: "malformed", "wrong_dtype" (pixel types and raw layouts we do not decode:
//! raw Nx1, or a 2x2 without all four chips).
Expected<FrameHeader> parse_frame_header(std::span<const std::uint8_t> bytes);
//! An MQ1 header of `data_offset` bytes (384 for one chip), NUL-padded, for the simulator.
std::string encode_frame_header(std::uint64_t sequence,
                                std::uint32_t width,
                                std::uint32_t height,
                                Dtype dtype,
                                std::uint32_t counter_depth);
//! Rewrites in place the sequence number of an MQ1 header made by encode_frame_header or
//! encode_raw_frame_header (the simulator makes one header per series and renumbers it per frame).
//! False, and `header` unchanged, when the number does not fit the field's digits: make it anew.
bool set_frame_sequence(std::span<char> header, std::uint64_t sequence);
//! The MQ1 header Merlin sends for raw (R64) frames that decode to rows x cols: layout "1x1"
//! (one chip, 384 bytes; rows * cols a multiple of 64), "2x2" (512 x 512) or "2x2G" (514 x 514)
//! (four chips, 768 bytes). For tests and the simulator; throws std::invalid_argument on a shape
//! the layout cannot have.
std::string encode_raw_frame_header(std::uint64_t sequence,
                                    std::string_view layout,
                                    std::uint32_t counter_depth,
                                    std::uint32_t rows,
                                    std::uint32_t cols);

//! Converts the pixel bytes of a frame into little-endian `out` (frame_bytes()). `in` must be
//! exactly pixel_bytes long. Raw quads are assembled (gap pixels set to 0). Allocates nothing.
Expected<void> decode_pixels(const FrameHeader& h,
                             std::span<const std::uint8_t> in,
                             std::span<std::uint8_t> out);
//! The inverse for count types (U08/U16/U32): little-endian pixels to big-endian bytes.
void encode_pixels(Dtype dtype, std::span<const std::uint8_t> in, std::span<std::uint8_t> out);
//! Raw (R64) encodings of one chip, for tests: pixels (u8 for 1/6 bit, u16 for 12, u32 for 24) to
//! the byte layout Merlin sends.
std::string encode_raw_pixels(std::uint32_t counter_depth,
                              std::span<const std::uint8_t> pixels,
                              std::size_t n_pixels);
//! The inverse of decode_pixels for a raw frame of any layout `h` describes (as parsed from
//! encode_raw_frame_header): the decoded frame's pixels (frame_bytes(), gap pixels ignored) to the
//! pixel bytes Merlin sends (pixel_bytes). For tests; values above the counter depth's maximum are
//! clamped as in the overload below.
std::string encode_raw_frame(const FrameHeader& h, std::span<const std::uint8_t> pixels);
//! The same into `out` (exactly h.pixel_bytes), from a frame of h.width x h.height pixels of any
//! integer `dtype` (u8, u16 or u32, little-endian; not necessarily h.dtype), for the simulator.
//! Values above the counter depth's maximum ((1 << depth) - 1) are clamped to it; 2x2G gap pixels
//! are not sent. Returns how many values were clamped. Allocates nothing; thread-safe.
std::uint64_t encode_raw_frame(const FrameHeader& h,
                               Dtype dtype,
                               std::span<const std::uint8_t> pixels,
                               std::span<std::uint8_t> out);

}  // namespace stemflow::ingest::merlin
