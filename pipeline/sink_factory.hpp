// SPDX-License-Identifier: GPL-3.0-or-later
// Turns [outputs.*] of a configuration into the run's observers: the one place that maps the output
// sections onto the sinks/ classes. A section present = that observer enabled; they see each batch
// in this order: HDF5, metrics, dashboard.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "pipeline/core/observer.hpp"
#include "pipeline/job_role.hpp"

namespace stemflow {

//! Throws ConfigError (with file:line) for bad values or a port that cannot be served.
std::vector<std::unique_ptr<Observer>> make_sinks(const config::Config& config,
                                                  const std::vector<std::string>& operator_names,
                                                  const std::string& device,
                                                  JobRole role = {});

}  // namespace stemflow
