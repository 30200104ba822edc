// SPDX-License-Identifier: GPL-3.0-or-later
// Merlin .mib files: frames as [MQ1 header][pixels], repeated (docs/protocols.md
// section 4.3), with an optional companion .hdr acquisition header (ScanX/ScanY give the scan).
// Frames are read one at a time with pread; raw (R64) frames of one chip or of a 2x2 quad are
// decoded (quads assembled into 512 x 512, or 514 x 514 for 2x2G).
#pragma once

#include <string>
#include <vector>

#include "ingest/merlin/mpx.hpp"
#include "ingest/replay/frame_reader.hpp"

namespace stemflow::ingest {

class MibFileReader final : public FrameReader {
 public:
  explicit MibFileReader(const std::string& path);  // throws ConfigError
  ~MibFileReader() override;

  const FileInfo& info() const override { return info_; }
  Expected<void> read_frame(std::uint64_t i, std::span<std::uint8_t> dst) override;
  bool concurrent() const override { return true; }  // pread into a buffer of the calling thread
  const merlin::FrameHeader& first_header() const { return first_; }

  static bool probe(const std::string& path);

 private:
  FileInfo info_;
  int fd_ = -1;
  merlin::FrameHeader first_;
  std::size_t stride_ = 0;
};

}  // namespace stemflow::ingest
