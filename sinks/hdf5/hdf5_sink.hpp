// SPDX-License-Identifier: GPL-3.0-or-later
// The HDF5 results file of a series, in the EMD 1.0 layout py4DSTEM reads:
//   /stemflow                      Root
//     <name>                       VirtualImage (Rx, Ry) per single-output operator
//     <name>_<suffix>              VirtualImage per output of multi-output operators (CoM: _qx, _qy,
//                                  _intensity)
//     <name>                       BraggVectors for peak-finding operators, plus <name>_count
//     <name>[_suffix]              DiffractionSlice for per-series images (mean/max pattern)
//     coverage                     RealSlice uint8 (Rx, Ry): 1 where a frame reached the results
//     metadatabundle/provenance    Metadata: configuration, version, input, times, frame counts
#pragma once

#include <string>

#include "pipeline/expected.hpp"
#include "sinks/provenance.hpp"
#include "sinks/result_store.hpp"

namespace stemflow::sinks {

enum class IfExists { kRename, kError, kOverwrite };

//! Expands "{series}" in `pattern` and applies the if-exists policy: kRename appends _1, _2, ... to
//! the stem; kError returns an error naming the file; kOverwrite returns the path as is. Creates the
//! parent directory.
Expected<std::string> resolve_output_path(const std::string& pattern, std::uint64_t series_id,
                                          IfExists policy);

//! Writes the whole file. Throws std::runtime_error with HDF5's cause (e.g. a full disk); a partial
//! file is removed so that nothing half-written looks like a result.
void write_results(const std::string& path, const ResultStore& store, const Provenance& prov,
                   bool overwrite);

}  // namespace stemflow::sinks
