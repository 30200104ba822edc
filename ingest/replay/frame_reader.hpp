// SPDX-License-Identifier: GPL-3.0-or-later
// Recorded scans, one reader per file format (raw, npy, emd, dectris, mib), behind one interface:
// the replay source, `stemflow info` and `stemflow-sim replay` all use it. A reader holds the file
// open and reads one frame at a time; nothing reads a whole file.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ingest/codecs/compression.hpp"
#include "pipeline/core/expected.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow::ingest {

//! What a recorded file holds (printed by `stemflow info`).
struct FileInfo {
  std::string format;  // raw, npy, emd, dectris, mib
  std::string path;
  std::vector<std::string> files;  // every file read (a DECTRIS master lists its data files)
  std::uint64_t frames = 0;
  std::uint32_t frame_rows = 0;
  std::uint32_t frame_cols = 0;
  Dtype dtype = Dtype::kU16;
  std::string compression = "none";           // as stored: none, bslz4, lz4, gzip, ...
  std::array<std::uint32_t, 2> scan_shape{};  // from the file; {0, 0} when it does not say
  std::map<std::string, std::string> metadata;

  std::size_t frame_bytes() const {
    return std::size_t{frame_rows} * frame_cols * dtype_size(dtype);
  }
};

//! How to read a file that does not describe itself (raw).
struct RawLayout {
  Dtype dtype = Dtype::kU16;
  std::array<std::uint32_t, 2> frame_shape{};
  std::uint64_t header_bytes = 0;
};

class FrameReader {
 public:
  virtual ~FrameReader() = default;
  virtual const FileInfo& info() const = 0;

  //! Frame i's pixels, decoded, little-endian, into dst (exactly info().frame_bytes()).
  //! Errors carry the reason the frame is dropped for (decode_error, wrong_size, malformed).
  virtual Expected<void> read_frame(std::uint64_t i, std::span<std::uint8_t> dst) = 0;

  //! True when read_frame() may run on several threads at once (for different frames): a replay
  //! then reads on the graph's workers.
  virtual bool concurrent() const { return false; }

  //! True when frames are stored compressed in a codec of ours: read_encoded() then gives the
  //! stored bytes, which the caller decodes (in parallel, straight into its batch).
  virtual bool encoded() const { return false; }
  //! Frame i as stored; `buf` is overwritten (its capacity reused). Returns the codec of the bytes
  //! and the element size to decode them with.
  virtual Expected<std::pair<codecs::Codec, std::uint32_t>> read_encoded(
      std::uint64_t i, std::vector<std::uint8_t>& buf);
};

//! Opens `path` as `format` ("" = from the extension and content: .npy, .emd/.h5 with an EMD root,
//! a DECTRIS master or data file, .mib, else raw). Throws ConfigError when it cannot.
std::unique_ptr<FrameReader> open_frame_reader(const std::string& path,
                                               std::string format,
                                               const RawLayout& raw = {});

//! The format open_frame_reader would pick for `path` with format "".
std::string detect_format(const std::string& path);

//! A human-readable summary of `info` (stemflow info).
std::string describe(const FileInfo& info);

}  // namespace stemflow::ingest
