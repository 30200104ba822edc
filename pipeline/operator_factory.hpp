// SPDX-License-Identifier: GPL-3.0-or-later
// Turns the [[operators]] of a configuration into operator objects: the only place that knows both
// the TOML keys (config/schema.cpp) and the operators' parameter structs.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "pipeline/operator.hpp"

namespace stemflow {

struct BuiltOperator {
  std::unique_ptr<Operator> op;
  std::vector<std::pair<std::string, std::string>> parameters;  // as configured, for provenance
};

//! Throws ConfigError (with file:line) for parameters that are wrong together, or files (masks)
//! that cannot be read.
BuiltOperator make_operator(const config::OperatorConfig& oc, const config::Config& config);

}  // namespace stemflow
