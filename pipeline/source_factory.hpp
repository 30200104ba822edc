// SPDX-License-Identifier: GPL-3.0-or-later
// Turns [input] (and [scan]) of a configuration into a source: the one place that maps input.source,
// input.protocol and input.format onto the ingest/ classes.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "ingest/source.hpp"
#include "pipeline/core/batch_pool.hpp"

namespace stemflow {

//! Throws ConfigError (with file:line) when the input cannot be opened or is misconfigured.
std::unique_ptr<ingest::Source> make_source(const config::Config& config, BatchPool& pool);

}  // namespace stemflow
