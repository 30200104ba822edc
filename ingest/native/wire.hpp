// SPDX-License-Identifier: GPL-3.0-or-later
// Encoding and decoding of the native wire protocol (ingest/schema/stemflow_wire.fbs). Shared by
// the engine's receiver and stemflow-sim's sender.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "pipeline/core/expected.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow::ingest::wire {

constexpr std::uint16_t kProtocolVersion = 1;

struct FrameHeader {
  std::uint64_t series_id = 0;
  std::uint64_t frame_index = 0;
  Dtype dtype = Dtype::kU16;
  std::uint64_t pixel_bytes = 0;
};

struct End {
  std::uint64_t series_id = 0;
  std::uint64_t frames_sent = 0;
};

using Message = std::variant<SeriesHeader, FrameHeader, End>;

//! Encoders append to `out` (cleared first); the buffer can be reused across calls.
void encode_start(const SeriesHeader& header, std::vector<std::uint8_t>& out);
void encode_frame(const FrameHeader& frame, std::vector<std::uint8_t>& out);
void encode_end(const End& end, std::vector<std::uint8_t>& out);

//! Verifies and decodes part 1 of a message. Errors: "malformed" (not a valid buffer),
//! "unknown_message" (unknown body or protocol version).
Expected<Message> decode(std::span<const std::uint8_t> bytes);

}  // namespace stemflow::ingest::wire
