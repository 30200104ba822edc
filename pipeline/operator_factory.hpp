// SPDX-License-Identifier: GPL-3.0-or-later
// Turns the [[operators]] of a configuration into operator objects: the only place that knows both
// the TOML keys (config/schema.cpp) and the operators' parameter structs.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include <optional>

#include "config/config.hpp"
#include "operators/bragg_disks/probe_template.hpp"
#include "pipeline/core/operator.hpp"

namespace stemflow {

struct BuiltOperator {
  std::unique_ptr<Operator> op;
  std::vector<std::pair<std::string, std::string>> parameters;  // as configured, for provenance
};

//! The correlation template of a bragg_disks operator: a ready kernel, or one built from vacuum
//! frames (then `probe` holds the whole recipe's result: probe, alpha, origin, radii).
struct ProbeSource {
  ops::ProbeKernel kernel;  // empty = no template
  std::optional<ops::ProbeTemplate> probe;
};
//! Reads and builds the template named by a bragg_disks operator's keys. Throws ConfigError.
ProbeSource probe_source(const config::Params& p, const config::Config& config);

//! Throws ConfigError (with file:line) for parameters that are wrong together, or files (masks)
//! that cannot be read.
BuiltOperator make_operator(const config::OperatorConfig& oc, const config::Config& config);

}  // namespace stemflow
