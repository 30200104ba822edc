// SPDX-License-Identifier: GPL-3.0-or-later
// This process's place in a job of several processes (MPI ranks) that share each series: what
// the factories need to give it its share of the input and its part of the outputs. A process of
// its own is rank 0 of 1.
#pragma once

#include <cstdint>
#include <memory>

#include "pipeline/core/series_peers.hpp"

namespace stemflow {

struct JobRole {
  std::uint32_t rank = 0;
  std::uint32_t ranks = 1;
  //! How the ranks' live receivers share series starts and ends (null for one process).
  std::shared_ptr<SeriesPeers> peers;
  bool writes() const { return rank == 0; }  // rank 0 gathers the results and writes them
};

}  // namespace stemflow
