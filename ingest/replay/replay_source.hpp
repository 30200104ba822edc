// SPDX-License-Identifier: GPL-3.0-or-later
// Replay of a recorded scan in any format of open_frame_reader (emd, dectris, mib, and raw/npy):
// one series, frames read ahead in a bounded window. Compressed DECTRIS chunks wait in a
// DecodeQueue and are decoded in parallel straight into the batch; other formats are read (and
// converted) one frame at a time straight into the batch slot: by the graph's workers when the
// reader allows it and `read_on_workers` is set (the engine sets it), else here. Optionally paced
// at a frame rate.
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

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
  //! Batches leave with their frames placed but not read (FrameBatch::fill): the graph's workers
  //! read them, in parallel. Only for readers that allow it (FrameReader::concurrent()); whoever
  //! takes the batches must run the fill (the engine does).
  bool read_on_workers = false;
};

class ReplaySource final : public Source, private BatchFill {
 public:
  //! Opens the file; throws ConfigError when it cannot.
  ReplaySource(BatchPool& pool, ReplayOptions options);

  SourceStatus next() override;
  const SeriesHeader& header() const override { return assembler_.header(); }
  FrameBatch* take_batch() override;
  const SeriesCounts& counts() const override { return assembler_.counts(); }
  void reject_series() override { assembler_.reject(); }
  std::string describe() const override;
  void settle() override;

 private:
  enum class State { kStart, kRunning, kEnding, kDone };
  std::chrono::steady_clock::time_point due(std::uint64_t i) const;
  void fill(FrameBatch& batch) override;  // on a worker

  ReplayOptions options_;
  std::unique_ptr<FrameReader> reader_;
  SeriesHeader header_;
  SeriesAssembler assembler_;
  DecodeQueue queue_;
  std::uint64_t frames_ = 0;  // end of the frames to replay (this process's share)
  std::uint64_t next_ = 0;    // from the start of the share
  State state_ = State::kStart;
  std::chrono::steady_clock::time_point t0_{};
  bool deferred_ = false;  // read_on_workers, and the reader allows it
  // Frames the workers could not read (reason, detail), folded into the counts by settle().
  std::mutex failed_mutex_;
  std::vector<std::pair<DropReason, std::string>> failed_;
};

}  // namespace stemflow::ingest
