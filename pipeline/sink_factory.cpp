// SPDX-License-Identifier: GPL-3.0-or-later
#include "pipeline/sink_factory.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <map>

#include "sinks/dashboard/dashboard_sink.hpp"
#include "sinks/hdf5/hdf5_sink.hpp"
#include "sinks/metrics/prometheus_metrics.hpp"

namespace stemflow {

std::vector<std::unique_ptr<Observer>> make_sinks(const config::Config& config,
                                                  const std::vector<std::string>& operator_names,
                                                  const std::string& device,
                                                  JobRole role) {
  std::vector<std::unique_ptr<Observer>> out;
  // In an MPI job the results file and the dashboard are rank 0's, which has the whole scan; every
  // rank serves its own metrics, labelled with its rank, on the configured port + its rank.
  if (config.has_section("outputs.hdf5") && role.writes()) {
    const auto h5 = config.section("outputs.hdf5");
    sinks::Hdf5Options o;
    o.path = h5.get_string("path");
    const std::string policy = h5.get_string("if_exists");
    o.if_exists = policy == "overwrite" ? sinks::IfExists::kOverwrite
                  : policy == "error"   ? sinks::IfExists::kError
                                        : sinks::IfExists::kRename;
    const double flush = h5.get_double("flush_interval");
    if (!(flush > 0)) throw ConfigError(h5.where("flush_interval") + ": must be > 0");
    o.flush_interval = std::chrono::milliseconds(static_cast<std::int64_t>(flush * 1000));
    out.push_back(std::make_unique<sinks::Hdf5Sink>(std::move(o)));
  }
  if (config.has_section("outputs.metrics")) {
    std::string listen = config.section("outputs.metrics").get_string("listen");
    std::map<std::string, std::string> labels;
    if (role.ranks > 1) {
      const auto colon = listen.rfind(':');
      const int port = colon == std::string::npos ? 0 : std::atoi(listen.c_str() + colon + 1);
      if (port > 0) listen = listen.substr(0, colon + 1) + std::to_string(port + int(role.rank));
      labels["rank"] = std::to_string(role.rank);
    }
    auto m = std::make_unique<sinks::PrometheusMetrics>(listen, operator_names, device, labels);
    spdlog::info("metrics on http://{}/metrics", listen);
    out.push_back(std::move(m));
  }
  if (config.has_section("outputs.dashboard") && role.writes()) {
    const auto d = config.section("outputs.dashboard");
    sinks::DashboardOptions o;
    o.listen = d.get_string("listen");
    const double interval = d.get_double("update_interval");
    if (!(interval >= 0.01)) throw ConfigError(d.where("update_interval") + ": must be >= 0.01");
    o.update_interval = std::chrono::milliseconds(static_cast<std::int64_t>(interval * 1000));
    o.sample_rate = d.get_double("sample_rate");
    if (!(o.sample_rate >= 0)) throw ConfigError(d.where("sample_rate") + ": must be >= 0");
    o.max_clients = static_cast<int>(d.get_int("max_clients"));
    if (o.max_clients < 1) throw ConfigError(d.where("max_clients") + ": must be >= 1");
    auto dash = std::make_unique<sinks::DashboardSink>(std::move(o));
    spdlog::info("dashboard on http://{}/", d.get_string("listen"));
    out.push_back(std::move(dash));
  }
  return out;
}

}  // namespace stemflow
