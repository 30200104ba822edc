// SPDX-License-Identifier: GPL-3.0-or-later
// Replay of a recorded scan in any format of open_frame_reader (emd, dectris, mib, and raw/npy):
// one series, frames read ahead in a bounded window. Compressed DECTRIS chunks wait in a
// DecodeQueue and are decoded in parallel straight into the batch; other formats are read (and
// converted) one frame at a time straight into the batch slot. Optionally paced at a frame rate.
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <string>

#include "ingest/dectris/decode_queue.hpp"
#include "ingest/replay/frame_reader.hpp"
#include "ingest/series_assembler.hpp"
#include "ingest/source.hpp"

namespace stemflow::ingest {

struct ReplayOptions {
  std::string path;
  std::string format;  // "" = detect
  RawLayout raw;
  std::array<std::uint32_t, 2> scan_shape{};  // when the file does not record one
  double rate = 0;                            // frames/s, 0 = as fast as possible
  std::size_t read_ahead = 64;                // compressed frames read before decoding
  //! This process's share of a job of `shares` processes (MPI ranks): contiguous scan rows
  //! [rows * index / shares, rows * (index + 1) / shares). Only those frames are read.
  std::uint32_t share_index = 0;
  std::uint32_t shares = 1;
};

class ReplaySource final : public Source {
 public:
  //! Opens the file; throws ConfigError when it cannot.
  ReplaySource(BatchPool& pool, ReplayOptions options);

  SourceStatus next() override;
  const SeriesHeader& header() const override { return assembler_.header(); }
  FrameBatch* take_batch() override { return queue_.fix_batch(assembler_.take_ready()); }
  const SeriesCounts& counts() const override { return assembler_.counts(); }
  void reject_series() override { assembler_.reject(); }
  std::string describe() const override;

 private:
  enum class State { kStart, kRunning, kEnding, kDone };
  std::chrono::steady_clock::time_point due(std::uint64_t i) const;

  ReplayOptions options_;
  std::unique_ptr<FrameReader> reader_;
  SeriesHeader header_;
  SeriesAssembler assembler_;
  DecodeQueue queue_;
  std::uint64_t frames_ = 0;  // end of the frames to replay (this process's share)
  std::uint64_t next_ = 0;    // from the start of the share
  State state_ = State::kStart;
  std::chrono::steady_clock::time_point t0_{};
};

}  // namespace stemflow::ingest
