// SPDX-License-Identifier: GPL-3.0-or-later
// DECTRIS HDF5 files (docs/protocols.md section 3.1): a master file whose /entry/data/
// data_000001, data_000002, ... are external links to data files, or a data file alone with
// /entry/data/data [n, H, W]. Chunks of one image are read as stored (H5Dread_chunk) and decoded
// with our bslz4/lz4 decoders, so no HDF5 filter plugin is needed. Other layouts or filters fall
// back to H5Dread (HDF5's own filters).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ingest/replay/frame_reader.hpp"
#include "ingest/replay/h5_util.hpp"

namespace stemflow::ingest {

class DectrisFileReader final : public FrameReader {
 public:
  //! Throws ConfigError when the file is not a DECTRIS master or data file.
  explicit DectrisFileReader(const std::string& path);

  const FileInfo& info() const override { return info_; }
  Expected<void> read_frame(std::uint64_t i, std::span<std::uint8_t> dst) override;
  bool encoded() const override { return direct_; }
  Expected<std::pair<codecs::Codec, std::uint32_t>> read_encoded(
      std::uint64_t i, std::vector<std::uint8_t>& buf) override;

  //! True when `path` looks like a DECTRIS master or data file (for format detection).
  static bool probe(const std::string& path);

 private:
  struct Segment {
    h5::Handle dataset;
    std::uint64_t first = 0;  // global index of its first frame
    std::uint64_t frames = 0;
  };
  const Segment* segment_of(std::uint64_t i) const;
  void add_segment(h5::Handle dataset, const std::string& where, bool first);

  FileInfo info_;
  h5::Handle file_;
  std::vector<Segment> segments_;
  bool direct_ = true;  // every segment is chunked one image per chunk with a filter of ours
  codecs::Codec codec_ = codecs::Codec::kNone;
  std::uint32_t elem_size_ = 2;
  std::vector<std::uint8_t> scratch_;
};

}  // namespace stemflow::ingest
