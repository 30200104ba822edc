// SPDX-License-Identifier: GPL-3.0-or-later
// SeriesPeers over MPI: the starts and ends one rank's receiver got, sent to every other rank on
// the job's events communicator, so that every rank's receiver starts and ends the same series.
#pragma once

#include <cstdint>
#include <vector>

#include "pipeline/core/series_peers.hpp"

namespace stemflow::mpi {

class MpiSeriesPeers final : public SeriesPeers {
 public:
  MpiSeriesPeers(std::uint32_t rank, std::uint32_t ranks) : rank_(rank), ranks_(ranks) {}
  void announce(const Event& event) override;
  std::optional<Event> poll() override;

 private:
  std::uint32_t rank_;
  std::uint32_t ranks_;
  std::vector<std::byte> out_;
  std::vector<std::byte> in_;
};

}  // namespace stemflow::mpi
