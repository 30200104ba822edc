// SPDX-License-Identifier: GPL-3.0-or-later
// Replay of a recorded scan from a file (raw or .npy): one series, read frame by frame straight
// into the batch slot (the file is never loaded whole), optionally paced at a frame rate.
#pragma once

#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "ingest/series_assembler.hpp"
#include "ingest/source.hpp"

namespace stemflow::ingest {

struct FileOptions {
  std::string path;
  std::string format;                       // "raw" or "npy"; empty: from the extension
  Dtype dtype = Dtype::kU16;                // raw only
  std::array<std::uint32_t, 2> frame_shape{};  // raw only
  std::uint64_t header_bytes = 0;           // raw only
  std::array<std::uint32_t, 2> scan_shape{};  // required for raw; for .npy if it is 3-D
  double rate = 0;                          // frames/s, 0 = as fast as possible
};

class FileSource final : public Source {
 public:
  //! Opens the file and works out the series header; throws ConfigError when it cannot.
  FileSource(BatchPool& pool, FileOptions options);

  SourceStatus next() override;
  const SeriesHeader& header() const override { return assembler_.header(); }
  FrameBatch* take_batch() override { return assembler_.take_ready(); }
  const SeriesCounts& counts() const override { return assembler_.counts(); }
  void reject_series() override { assembler_.reject(); }
  std::string describe() const override { return options_.format + " file " + options_.path; }

 private:
  enum class State { kStart, kRunning, kEnding, kDone };

  FileOptions options_;
  SeriesHeader header_;
  SeriesAssembler assembler_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_{nullptr, &std::fclose};
  std::uint64_t frames_in_file_ = 0;
  bool truncated_tail_ = false;  // the file ends inside a frame
  std::uint64_t next_index_ = 0;
  State state_ = State::kStart;
  std::chrono::steady_clock::time_point t0_{};
};

}  // namespace stemflow::ingest
