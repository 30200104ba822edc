// SPDX-License-Identifier: GPL-3.0-or-later
// The operator registry: the list of operator types (operators/README.md says how to add one). The
// configuration schema (keys, validation, the reference), the factory below and the dashboard read
// this list; none of them names an operator type.
#pragma once

#include <span>
#include <string_view>

#include "config/config.hpp"
#include "operators/operator_type.hpp"

namespace stemflow::ops {

//! Every operator type, in the order the configuration reference lists them.
std::span<const OperatorType> operator_types();
//! nullptr for a type this build does not have.
const OperatorType* find_operator_type(std::string_view name);

//! The operator of one [[operators]] table: its type's build(), and its parameters as configured
//! for the provenance. Throws ConfigError (with file:line) for parameters that are wrong together,
//! or files (masks, templates) that cannot be read.
BuiltOperator make_operator(const config::OperatorConfig& oc, const config::Config& config);

}  // namespace stemflow::ops
