// SPDX-License-Identifier: GPL-3.0-or-later
// Turns [outputs.*] of a configuration into sinks: the one place that maps the output sections onto
// the sinks/ classes. A section present = that sink enabled.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "sinks/sink.hpp"

namespace stemflow {

namespace sinks {
class PrometheusMetrics;
class DashboardSink;
}  // namespace sinks

struct BuiltSinks {
  std::vector<std::unique_ptr<sinks::Sink>> all;  // in the order they see each batch
  sinks::PrometheusMetrics* metrics = nullptr;    // one of `all`, if configured
  sinks::DashboardSink* dashboard = nullptr;      // one of `all`, if configured
};

//! Throws ConfigError (with file:line) for bad values or a port that cannot be served.
BuiltSinks make_sinks(const config::Config& config, const std::vector<std::string>& operator_names,
                      const std::string& device);

}  // namespace stemflow
