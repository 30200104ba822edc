// SPDX-License-Identifier: GPL-3.0-or-later
// `stemflow info` on a results file stemflow wrote: what it holds (the series, its scan and frames,
// the operators and their maps, the coverage and the frame counts), read back from the layout the
// HDF5 sink writes (docs/emd-layout.md). Recorded data files are described by ingest/replay.
#pragma once

#include <optional>
#include <string>

namespace stemflow::sinks {

//! A description of the stemflow results file at `path`, or nullopt when it is not one (not HDF5,
//! or no /stemflow/metadatabundle/provenance).
std::optional<std::string> describe_results_file(const std::string& path);

}  // namespace stemflow::sinks
