// SPDX-License-Identifier: GPL-3.0-or-later
// Rank 0 of an MPI job: its own share of the frames (the wrapped source) plus the results the
// other ranks computed on theirs, as batches marked `computed`, so that the one writing process's
// sink node sees the whole scan, in one results file with the single-process layout. The series
// ends when this rank's share has ended and every other rank has sent its end (counts and
// per-series images, which the engine folds into its own through peers()).
//
// Back-pressure: a rank's results wait in MPI until a pool slot is free here; MPI's rendezvous
// protocol then holds the sending rank's sink node, which holds its graph.
// A rank that dies leaves this rank waiting for its end: the launcher (mpirun, srun
// --kill-on-bad-exit) ends the job and the signal it sends stops this rank, which writes what it
// has, ended as interrupted.
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "pipeline/core/batch_pool.hpp"
#include "pipeline/core/source.hpp"

namespace stemflow::mpi {

class GatherSource final : public Source {
 public:
  GatherSource(BatchPool& pool, std::unique_ptr<Source> own, std::uint32_t ranks);

  SourceStatus next() override;
  const SeriesHeader& header() const override { return own_->header(); }
  FrameBatch* take_batch() override;
  const SeriesCounts& counts() const override;
  void reject_series() override;
  const SeriesCounts& outside_counts() const override { return own_->outside_counts(); }
  const PeerResults* peers() const override { return state_ == State::kEnded ? &peers_ : nullptr; }
  std::string describe() const override;

 private:
  enum class State { kBefore, kRunning, kOwnEnded, kEnded };
  //! Receives one message from another rank if one is waiting; true when it did something.
  bool poll();
  bool receive_from(std::uint32_t from, const MPI_Status& st);
  SourceStatus end_series();

  BatchPool& pool_;
  std::unique_ptr<Source> own_;
  std::uint32_t ranks_;
  State state_ = State::kBefore;
  bool rejected_ = false;
  FrameBatch* pending_ = nullptr;  // another rank's results, ready to take
  std::uint32_t next_rank_ = 0;    // where the next poll starts (fairness between ranks)
  std::vector<bool> ended_;        // per rank: its end received
  std::vector<SeriesCounts> peer_counts_;
  PeerResults peers_;
  std::vector<std::byte> buffer_;
  mutable SeriesCounts total_;
  static constexpr std::chrono::seconds kStopGrace{3};
  std::optional<std::chrono::steady_clock::time_point> stop_seen_;
};

}  // namespace stemflow::mpi
