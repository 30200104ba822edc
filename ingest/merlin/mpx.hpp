// SPDX-License-Identifier: GPL-3.0-or-later
// Quantum Detectors Merlin (Medipix3) formats (../shared/notes/protocols.md section 4): the TCP
// framing "MPX,<10-digit length>,<payload>", the acquisition header (HDR ... End), the MQ1 frame
// header and the pixel encodings (big-endian counts U08/U16/U32; raw R64 at 1/6/12/24 bit, single
// chip). Shared by the TCP receiver, the .mib reader and stemflow-sim's sender.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "pipeline/expected.hpp"
#include "pipeline/series.hpp"

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
//! An acquisition header as Merlin sends it (HDR, key:value lines, End), for the simulator.
std::string encode_acquisition_header(std::uint64_t frames, std::uint32_t counter_depth,
                                      std::uint32_t scan_x, std::uint32_t scan_y);

struct FrameHeader {
  std::uint64_t sequence = 0;     // 1-based
  std::size_t data_offset = 0;    // header bytes before the pixels
  std::uint32_t chips = 1;
  std::uint32_t width = 0;        // columns
  std::uint32_t height = 0;       // rows
  std::string pixel_type;         // U08, U16, U32, U64, R64
  std::string layout;             // 1x1, 2x2, ...
  std::uint32_t counter_depth = 0;  // 1, 6, 12, 24 (from MQ1A; 0 if absent)
  bool raw = false;               // R64
  Dtype dtype = Dtype::kU16;      // what the frame becomes
  std::size_t pixel_bytes = 0;    // bytes of pixel data after the header

  std::size_t frame_bytes() const { return std::size_t{width} * height * dtype_size(dtype); }
};
//! Parses an MQ1 header at the start of `bytes` (at least data_offset bytes are not needed: only
//! the fields). Errors: "malformed", "wrong_dtype" (pixel types we do not decode).
Expected<FrameHeader> parse_frame_header(std::span<const std::uint8_t> bytes);
//! An MQ1 header of `data_offset` bytes (384 for one chip), NUL-padded, for the simulator.
std::string encode_frame_header(std::uint64_t sequence, std::uint32_t width, std::uint32_t height,
                                Dtype dtype, std::uint32_t counter_depth);

//! Converts the pixel bytes of a frame into little-endian `out` (frame_bytes()). `in` must be
//! exactly pixel_bytes long.
Expected<void> decode_pixels(const FrameHeader& h, std::span<const std::uint8_t> in,
                             std::span<std::uint8_t> out);
//! The inverse for count types (U08/U16/U32): little-endian pixels to big-endian bytes.
void encode_pixels(Dtype dtype, std::span<const std::uint8_t> in, std::span<std::uint8_t> out);
//! Raw (R64) encodings of one chip, for tests: pixels (u8 for 1/6 bit, u16 for 12, u32 for 24) to
//! the byte layout Merlin sends.
std::string encode_raw_pixels(std::uint32_t counter_depth, std::span<const std::uint8_t> pixels,
                              std::size_t n_pixels);

}  // namespace stemflow::ingest::merlin
