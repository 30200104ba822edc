// SPDX-License-Identifier: GPL-3.0-or-later
// What a results file records about how it was made.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "pipeline/core/series.hpp"

namespace stemflow {

struct Provenance {
  std::string stemflow_version;
  std::string config_toml;  // the effective configuration, overrides applied
  std::string config_file;
  std::string input;       // protocol and endpoints, or the replayed file
  std::string device;      // where the operators ran ("cpu", "cuda:0 NVIDIA H100 ...")
  std::string start_time;  // ISO 8601 UTC, series start / end
  std::string end_time;
  SeriesCounts counts;  // from the source
  std::uint64_t frames_processed = 0;
  std::uint64_t frames_failed = 0;             // operator errors
  std::uint32_t mpi_ranks = 1;                 // processes of the job that shared the series
  std::vector<std::uint64_t> frames_per_rank;  // frames each process received, in rank order
};

//! Now as ISO 8601 UTC with milliseconds.
std::string utc_now();

}  // namespace stemflow
