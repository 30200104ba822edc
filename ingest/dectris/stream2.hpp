// SPDX-License-Identifier: GPL-3.0-or-later
// DECTRIS SIMPLON stream V2 messages (docs/protocols.md section 1.2): one CBOR map per
// ZeroMQ message, "type" = start | image | end. Images are `data: {channel: 40([[rows, cols],
// <typed array tag>(<bytes> | 56500([algorithm, elem_size, <bytes>]))])}`. Shared by the receiver
// and by stemflow-sim's sender.
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
#include "ingest/dectris/cbor.hpp"
#include "pipeline/core/expected.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow::ingest::stream2 {

constexpr std::uint64_t kSelfDescribedTag = 55799;
constexpr std::uint64_t kMultiDimRowMajorTag = 40;
constexpr std::uint64_t kMultiDimColumnMajorTag = 1040;
constexpr std::uint64_t kCompressionTag = 56500;

//! RFC 8746 typed-array tag of a little-endian unsigned dtype (64, 69, 70; f32: 85).
std::uint64_t typed_array_tag(Dtype d);

struct Start {
  std::uint64_t series_id = 0;
  std::string series_unique_id;
  std::vector<std::string> channels;
  Dtype dtype = Dtype::kU16;
  std::uint32_t image_size_x = 0;  // columns
  std::uint32_t image_size_y = 0;  // rows
  std::uint64_t number_of_images = 0;
  std::string detector_description;
  //! user_data.stemflow.scan_shape, which stemflow-sim sends: [rows, cols] of the scan.
  std::optional<std::array<std::uint32_t, 2>> scan_shape;
  //! Other scalar fields, as text, for the series metadata (count_time, frame_time, ...).
  std::map<std::string, std::string> metadata;
};

//! An image message, reduced to the one channel the receiver takes. `data` points into the
//! message buffer.
struct Image {
  std::uint64_t series_id = 0;
  std::string series_unique_id;
  std::uint64_t image_id = 0;
  std::uint32_t rows = 0;
  std::uint32_t cols = 0;
  Dtype dtype = Dtype::kU16;
  codecs::Codec codec = codecs::Codec::kNone;
  std::uint32_t elem_size = 1;
  std::span<const std::uint8_t> data;
};

struct End {
  std::uint64_t series_id = 0;
  std::string series_unique_id;
};

using Message = std::variant<Start, Image, End>;

//! Decodes a message. `channel` selects the image channel (empty: the only or the first one).
//! Error codes are drop reason names: "malformed", "unknown_message", "wrong_dtype", "wrong_size",
//! "decode_error" (unknown compression).
Expected<Message> decode(std::span<const std::uint8_t> bytes,
                         cbor::CborDocument& doc,
                         std::string_view channel);

//! Encoders for the simulator. `out` is overwritten.
void encode_start(const Start& s, std::vector<std::uint8_t>& out);
//! One channel's pixels, already encoded with `codec` (kNone, kBslz4 or kLz4Hdf5).
struct ChannelData {
  std::string name;
  codecs::Codec codec = codecs::Codec::kNone;
  std::span<const std::uint8_t> bytes;
};
void encode_image(std::uint64_t series_id,
                  std::string_view unique_id,
                  std::uint64_t image_id,
                  std::uint32_t rows,
                  std::uint32_t cols,
                  Dtype dtype,
                  std::span<const ChannelData> channels,
                  std::vector<std::uint8_t>& out);
void encode_end(const End& e, std::vector<std::uint8_t>& out);

}  // namespace stemflow::ingest::stream2
