// SPDX-License-Identifier: GPL-3.0-or-later
// What the processes of an MPI job send the writing process (rank 0), as bytes: a batch's results
// (never its pixels) and, at the end of the series, the process's counts and per-series images.
// Both sides are the same build with the same configuration, so the layout is checked, not
// negotiated: a message that does not fit the receiving batch is an error, not a guess.
//
//   results   u32 count, u32 operators; u64 index[count]; per operator: u32 scalars_per_frame,
//             u32 max_peaks, u8 failed[count], f64 scalars[count * scalars_per_frame], and with
//             peaks u32 peak_counts[count] and the valid peaks (f64 qx, qy, intensity) in frame
//             order
//   end       the SeriesCounts fields, then per operator its images (suffix, shape, units, combine
//             rule, frames, f64 values)
//   event     kind, series id, frames announced, and for a start the series header (shapes, dtype,
//             detector, metadata as strings)
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "pipeline/core/batch.hpp"
#include "pipeline/core/expected.hpp"
#include "pipeline/core/operator.hpp"
#include "pipeline/core/series.hpp"
#include "pipeline/core/series_peers.hpp"

namespace stemflow::mpi {

//! The results of `batch` (count frames), appended to `out` (cleared first).
void encode_results(const FrameBatch& batch, std::vector<std::byte>& out);
//! Fills `batch` (a slot of the receiving pool, configured for the same series) with the results
//! in `msg`: count, index and every operator's results. The pixels are not touched.
Expected<void> decode_results(std::span<const std::byte> msg, FrameBatch& batch);

struct EndMessage {
  SeriesCounts counts;
  std::vector<std::vector<SeriesImage>> images;  // [operator]
};
void encode_end(const EndMessage& end, std::vector<std::byte>& out);
Expected<EndMessage> decode_end(std::span<const std::byte> msg);

//! A series start or end one rank's receiver got, for the others (with the whole series header).
void encode_event(const SeriesPeers::Event& event, std::vector<std::byte>& out);
Expected<SeriesPeers::Event> decode_event(std::span<const std::byte> msg);

}  // namespace stemflow::mpi
