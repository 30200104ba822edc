// SPDX-License-Identifier: GPL-3.0-or-later
// Turns [input] (and [scan]) of a configuration into a source: the one place that maps
// input.source, input.protocol and input.format onto the ingest/ classes.
#pragma once

#include <functional>
#include <memory>

#include "config/config.hpp"
#include "ingest/source.hpp"
#include "pipeline/core/batch_pool.hpp"
#include "pipeline/job_role.hpp"

namespace stemflow {

//! Makes the configured source over a pool: receivers open their sockets, a replay its file, when
//! called (a ConfigError then names what cannot be opened).
using SourceMaker = std::function<std::unique_ptr<Source>(BatchPool&)>;

//! Checks the [input] section and returns the maker of its source; opens nothing. Throws
//! ConfigError (with file:line) when the input is misconfigured. In a job of several ranks, a
//! replay reads the rank's share of the scan rows.
SourceMaker source_maker(const config::Config& config, JobRole role = {});

}  // namespace stemflow
