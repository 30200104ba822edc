// SPDX-License-Identifier: GPL-3.0-or-later
#include "pipeline/plan.hpp"

#include <spdlog/spdlog.h>

#include "operators/gpu/placement.hpp"
#include "operators/registry.hpp"
#include "pipeline/sink_factory.hpp"
#include "pipeline/source_factory.hpp"
#ifdef STEMFLOW_WITH_MPI
#include "mpi/forward_sink.hpp"
#include "mpi/gather_source.hpp"
#endif

namespace stemflow {

EngineParts make_plan(const config::Config& config, PlanFor what, JobRole role) {
  EngineParts parts;
  const auto pipe = config.section("pipeline");
  parts.batch_frames = static_cast<std::uint32_t>(pipe.get_int("batch_frames"));
  parts.threads = static_cast<int>(pipe.get_int("threads"));
  parts.results_limit = pipe.get_size("results_limit");
  const auto scan = config.section("scan");
  if (scan.has("shape")) {
    const auto s = scan.get_ints("shape");
    if (s.size() != 2 || s[0] <= 0 || s[1] <= 0) {
      throw ConfigError(scan.where("shape") + ": needs [rows, cols] > 0");
    }
    parts.scan_shape = std::array<std::uint32_t, 2>{std::uint32_t(s[0]), std::uint32_t(s[1])};
  }
  // The device first: pipeline.device = "cuda" without a GPU is a configuration error.
  const auto device = gpu::choose_device(pipe.get_string("device"), pipe.where("device"));
  parts.device = device.description;
  for (const auto& oc : config.operators()) {
    auto built = ops::make_operator(oc, config);
    parts.outputs.push_back({oc.name, oc.type, {}, std::move(built.parameters)});
    parts.operators.push_back(std::move(built.op));
  }
  // Operators that read others' results: checked here, so that validate and run agree.
  link_operator_inputs(parts.operators);
  if (config.has_section("outputs.dashboard") && role.writes()) {
    // The operators' live images (strain maps, the Bragg vector map) as often as browsers get
    // deltas: a map is on the page within one update interval of its frames (in an MPI job, on
    // rank 0, whose dashboard shows the whole scan).
    parts.preview_interval_s = config.section("outputs.dashboard").get_double("update_interval");
  }
  auto make_source = source_maker(config, role);
  const auto in = config.section("input");
  const std::string source = in.get_string("source");
  parts.input = source == "zmq" ? in.get_string("protocol") : source;
  parts.config_toml = config.effective_toml();
  parts.config_file = config.file();
  if (what == PlanFor::kValidate) {
    // A replay opens its file and reads its header (a missing file or a raw file without
    // scan.shape is a configuration error): over a pool of one page, which it never fills.
    if (in.get_string("source") == "file") {
      BatchPool probe(4096);
      (void)make_source(probe);
    }
    return parts;
  }
  if (parts.operators.empty())
    spdlog::warn("no [[operators]] configured: frames will only be counted");
  if (!config.has_section("outputs.hdf5") && role.writes())
    spdlog::warn("no [outputs.hdf5]: results are not saved");
  std::vector<std::string> names;
  for (const auto& op : parts.operators) names.push_back(op->name());
  parts.observers = make_sinks(config, names, parts.device, role);
  if (role.ranks > 1) {
#ifdef STEMFLOW_WITH_MPI
    if (role.writes()) {
      make_source = [own = std::move(make_source), ranks = role.ranks](BatchPool& pool) {
        return std::unique_ptr<Source>(std::make_unique<mpi::GatherSource>(pool, own(pool), ranks));
      };
    } else {
      parts.observers.push_back(std::make_unique<mpi::ForwardSink>());
      parts.conclude = false;
    }
#else
    throw ConfigError("this stemflow was built without MPI (STEMFLOW_MPI) and runs one rank");
#endif
  }
  parts.make_placement = [device](const std::vector<std::unique_ptr<Operator>>& ops) {
    return std::make_unique<gpu::Placement>(device, ops);
  };
  parts.memory_limit = pipe.get_size("memory_limit");
  parts.make_source = std::move(make_source);
  return parts;
}

}  // namespace stemflow
