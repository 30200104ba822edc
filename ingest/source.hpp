// SPDX-License-Identifier: GPL-3.0-or-later
// What the receivers and replays of ingest/ share beyond the source contract
// (pipeline/core/source.hpp), which they implement.
#pragma once

#include <atomic>
#include <exception>
#include <string>

#include "pipeline/core/expected.hpp"
#include "pipeline/core/series.hpp"
#include "pipeline/core/source.hpp"

namespace stemflow::ingest {

using stemflow::Source;
using stemflow::SourceStatus;

//! Said with frames that arrive outside any series on a ZeroMQ receiver: the usual cause is a
//! second receiver on the same sender, which took the series start.
inline constexpr std::string_view kNoSeriesHint =
    " (if another receiver is connected to the same sender, it may have taken the series start: a "
    "ZeroMQ sender deals messages round-robin among its receivers; connect one engine per sender, "
    "or run them as one MPI job)";

//! The drop an error stands for: the reason it carries; malformed for one that carries none.
inline DropReason drop_reason_of(const Error& e) {
  return e.reason.value_or(DropReason::kMalformed);
}

//! Calls a message parser (returning Expected) and turns anything it throws into a "malformed"
//! error. Parsers report bad input as errors; this is the receivers' boundary for what one lets
//! escape (CONTRIBUTING.md: nothing escapes a node body), so one malformed message is a counted
//! drop and never stops an acquisition.
template <class Fn>
auto parse_guarded(Fn&& parse) -> decltype(parse()) {
  try {
    return parse();
  } catch (const std::exception& e) {
    return make_drop(DropReason::kMalformed,
                     std::string("message the parser could not handle: ") + e.what());
  }
}

}  // namespace stemflow::ingest
