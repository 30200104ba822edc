// SPDX-License-Identifier: GPL-3.0-or-later
// What an operator's folder tells the rest of stemflow about its type: the keys of its
// [[operators]] table and how a configured table becomes an operator object. Each folder defines
// one `OperatorType <name>_type()` (in <name>_type.cpp) and operators/registry.cpp lists it;
// nothing else names an operator type (operators/README.md).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/schema.hpp"
#include "pipeline/core/operator.hpp"

namespace stemflow::ops {

//! An operator built from its configuration.
struct BuiltOperator {
  std::unique_ptr<Operator> op;
  //! For the provenance, as configured. The registry fills in every key the table has (or
  //! defaults); an operator's build() adds only what it derived (e.g. the probe size of a vacuum
  //! template).
  std::vector<std::pair<std::string, std::string>> parameters;
};

struct OperatorType {
  std::string_view name;         // `type = "..."` in [[operators]]
  std::string_view description;  // for the configuration reference: what it does, its outputs
  std::vector<config::KeySpec> keys;
  //! The operator for a validated table of this type (oc.params read against `keys`). Throws
  //! ConfigError (with file:line) for parameters that are wrong together, or files (masks,
  //! templates) that cannot be read.
  BuiltOperator (*build)(const config::OperatorConfig& oc, const config::Config& config) = nullptr;
  //! What finish() gives is the series' mean diffraction pattern: the dashboard shows it in place
  //! of its own running mean once the series ends.
  bool gives_mean_pattern = false;
};

}  // namespace stemflow::ops
