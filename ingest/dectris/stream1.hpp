// SPDX-License-Identifier: GPL-3.0-or-later
// DECTRIS SIMPLON stream V1 ("legacy"): JSON + binary multipart ZeroMQ messages
// (docs/protocols.md section 1.1): global header dheader-1.0 (+ detector config with
// header_detail basic/all), images dimage-1.0 / dimage_d-1.0 / blob / dconfig-1.0, end
// dseries_end-1.0. Shared by the receiver and by stemflow-sim's sender.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "ingest/codecs/compression.hpp"
#include "ingest/codecs/md5.hpp"
#include "pipeline/core/expected.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow::ingest::stream1 {

struct Header {
  std::uint64_t series = 0;
  std::string header_detail = "basic";
  std::uint32_t x_pixels = 0;  // columns
  std::uint32_t y_pixels = 0;  // rows
  Dtype dtype = Dtype::kU16;   // from bit_depth_image
  std::uint64_t frames = 0;    // ntrigger (exte/inte) or nimages * ntrigger (exts/ints)
  std::string description;
  std::string compression;
  //! "stemflow_scan_shape" in the detector config (sent by stemflow-sim): [rows, cols].
  std::optional<std::array<std::uint32_t, 2>> scan_shape;
  std::map<std::string, std::string> metadata;
};

struct Image {
  std::uint64_t series = 0;
  std::uint64_t frame = 0;  // 0-based
  std::uint32_t x = 0;      // columns (shape[0])
  std::uint32_t y = 0;      // rows (shape[1])
  Dtype dtype = Dtype::kU16;
  codecs::Codec codec = codecs::Codec::kNone;
  std::uint32_t elem_size = 1;
  std::span<const std::uint8_t> data;  // part 3
  //! Part 1 "hash", the md5 of part 3, when given. Absent or "" is not given; anything but 32 hex
  //! digits sets `md5_malformed` (the receiver minds only when it verifies hashes).
  std::optional<codecs::Md5Digest> md5;
  bool md5_malformed = false;
};

struct End {
  std::uint64_t series = 0;
};

using Message = std::variant<Header, Image, End>;

//! The codec and element size of an encoding string ([bs<BITS>][[-]lz4][<|>]). Errors:
//! "wrong_dtype" for big-endian data, "decode_error" for an encoding we do not know.
Expected<std::pair<codecs::Codec, std::uint32_t>> parse_encoding(std::string_view encoding,
                                                                 std::size_t elem_size);
//! The encoding string of a codec for pixels of `elem_size` bytes ("bs16-lz4<", "lz4<", "<").
std::string encoding_name(codecs::Codec codec, std::size_t elem_size);

//! Decodes a multipart message (all its parts). Error codes are drop reason names.
Expected<Message> decode(std::span<const std::span<const std::uint8_t>> parts);

//! Encoders for the simulator. Each returns the parts of one multipart message; for an image the
//! blob (part 3) is the caller's and is not copied: parts 1, 2 and 4 are returned.
std::vector<std::string> encode_header(const Header& h);
struct ImageParts {
  std::string part1, part2, part4;
};
//! `md5_hex`: part 1's "hash", the md5 of the blob as 32 hex digits (codecs::md5_hex), or empty
//! for a sender that does not hash.
ImageParts encode_image(std::uint64_t series,
                        std::uint64_t frame,
                        std::uint32_t rows,
                        std::uint32_t cols,
                        Dtype dtype,
                        codecs::Codec codec,
                        std::size_t blob_bytes,
                        std::string_view md5_hex);
std::string encode_end(std::uint64_t series);

}  // namespace stemflow::ingest::stream1
