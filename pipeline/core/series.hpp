// SPDX-License-Identifier: GPL-3.0-or-later
// What a series is: the header every component sees when an acquisition starts, and the closed set
// of reasons a received frame may be dropped.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace stemflow {

enum class Dtype : std::uint8_t { kU8, kU16, kU32, kF32 };

constexpr std::size_t dtype_size(Dtype d) {
  switch (d) {
    case Dtype::kU8:
      return 1;
    case Dtype::kU16:
      return 2;
    case Dtype::kU32:
      return 4;
    case Dtype::kF32:
      return 4;
  }
  return 0;
}

constexpr std::string_view dtype_name(Dtype d) {
  switch (d) {
    case Dtype::kU8:
      return "u8";
    case Dtype::kU16:
      return "u16";
    case Dtype::kU32:
      return "u32";
    case Dtype::kF32:
      return "f32";
  }
  return "?";
}

inline std::optional<Dtype> parse_dtype(std::string_view s) {
  if (s == "u8" || s == "uint8") return Dtype::kU8;
  if (s == "u16" || s == "uint16") return Dtype::kU16;
  if (s == "u32" || s == "uint32") return Dtype::kU32;
  if (s == "f32" || s == "float32") return Dtype::kF32;
  return std::nullopt;
}

//! Calls fn.template operator()<PixelT>() with the C++ type of dtype d.
template <class Fn>
decltype(auto) visit_dtype(Dtype d, Fn&& fn) {
  switch (d) {
    case Dtype::kU8:
      return fn.template operator()<std::uint8_t>();
    case Dtype::kU16:
      return fn.template operator()<std::uint16_t>();
    case Dtype::kU32:
      return fn.template operator()<std::uint32_t>();
    case Dtype::kF32:
      break;
  }
  return fn.template operator()<float>();
}

//! Sent once when an acquisition starts. Scan positions are numbered row-major:
//! index = rx * scan_cols + ry. Frames are (frame_rows = qx, frame_cols = qy), qy fastest.
struct SeriesHeader {
  std::uint64_t series_id = 0;
  std::uint32_t scan_rows = 0;   // Rx
  std::uint32_t scan_cols = 0;   // Ry
  std::uint32_t frame_rows = 0;  // Qx
  std::uint32_t frame_cols = 0;  // Qy
  Dtype dtype = Dtype::kU16;
  std::string detector;
  std::map<std::string, std::string> metadata;

  std::uint64_t scan_size() const { return std::uint64_t{scan_rows} * scan_cols; }
  std::size_t frame_pixels() const { return std::size_t{frame_rows} * frame_cols; }
  std::size_t frame_bytes() const { return frame_pixels() * dtype_size(dtype); }
};

//! Why a received frame (or message) did not reach the results. Closed set: each has a metric
//! label.
enum class DropReason : std::uint8_t {
  kMalformed,        // message could not be decoded
  kUnknownMessage,   // decoded, but of a type or protocol version we do not know
  kNoSeries,         // frame outside any started series
  kWrongSeries,      // frame carries another series id
  kWrongSize,        // pixel payload does not match the series' frame shape and dtype
  kWrongDtype,       // frame declares another dtype than the series
  kIndexOutOfRange,  // frame index >= scan size
  kDuplicate,        // frame index already received in this series
  kOperatorError,    // an operator failed on this frame (e.g. NaN pixels)
  kSeriesRejected,   // the series could not be processed (it does not fit the configuration)
  kDecodeError,      // compressed pixels could not be decoded (corrupt or truncated block)
  kHashMismatch,     // the pixel payload does not have the checksum its message carries
  kCount
};

constexpr std::string_view drop_reason_name(DropReason r) {
  constexpr std::array<std::string_view, static_cast<std::size_t>(DropReason::kCount)> kNames = {
      "malformed",
      "unknown_message",
      "no_series",
      "wrong_series",
      "wrong_size",
      "wrong_dtype",
      "index_out_of_range",
      "duplicate",
      "operator_error",
      "series_rejected",
      "decode_error",
      "hash_mismatch"};
  return kNames[static_cast<std::size_t>(r)];
}

constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::kCount);

//! How a series ended.
enum class SeriesEnd : std::uint8_t {
  kComplete,     // end message received
  kTimeout,      // the sender went silent for input.series_timeout
  kRestarted,    // a new series started before this one ended
  kInterrupted,  // the engine was asked to stop (SIGINT/SIGTERM)
  kEndOfFile,    // replay reached the end of the file
  kCutShort,     // a second SIGINT/SIGTERM: stopped at once, frames not yet processed were dropped
};

constexpr std::string_view series_end_name(SeriesEnd e) {
  switch (e) {
    case SeriesEnd::kComplete:
      return "complete";
    case SeriesEnd::kTimeout:
      return "timeout";
    case SeriesEnd::kRestarted:
      return "restarted";
    case SeriesEnd::kInterrupted:
      return "interrupted";
    case SeriesEnd::kEndOfFile:
      return "end_of_file";
    case SeriesEnd::kCutShort:
      return "cut_short";
  }
  return "?";
}

//! Counters a source keeps for one series; the sink writes them beside the results.
struct SeriesCounts {
  std::uint64_t frames_received = 0;  // frame messages seen, valid or not
  std::uint64_t frames_accepted = 0;  // put into a batch
  std::uint64_t bytes_received = 0;
  std::array<std::uint64_t, kDropReasonCount> dropped{};
  std::uint64_t frames_announced = 0;  // what the sender said it sent (end message), 0 if unknown
  SeriesEnd end = SeriesEnd::kComplete;
  //! The frames arrived dealt out as if another receiver shared the sender (logged at the end).
  bool split_suspected = false;

  std::uint64_t dropped_total() const {
    std::uint64_t n = 0;
    for (auto d : dropped) n += d;
    return n;
  }
};

}  // namespace stemflow
