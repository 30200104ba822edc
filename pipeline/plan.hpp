// SPDX-License-Identifier: GPL-3.0-or-later
// From a configuration to the engine's parts: the one place that knows every folder (ingest/ for
// the source, operators/ for the registry and the placement, sinks/ for the observers). `stemflow
// validate` and `stemflow run` both build the whole plan here, so that they never disagree: a
// validation builds every part that can be built without opening a socket, binding a port,
// allocating the batch pool or writing a file (a replayed file is opened and its header read).
#pragma once

#include "config/config.hpp"
#include "pipeline/engine.hpp"
#include "pipeline/job_role.hpp"

namespace stemflow {

enum class PlanFor {
  kValidate,  // check everything; open no socket, bind no port, write nothing
  kRun,       // the parts the engine runs
};

//! Throws ConfigError (with file:line and key) for anything the configuration gets wrong.
//! In a job of several MPI ranks (`role`), each rank's plan reads its share of the input; rank 0's
//! source also gathers the other ranks' results and its observers write them; the others' send
//! theirs to rank 0 (mpi/).
EngineParts make_plan(const config::Config& config, PlanFor what, JobRole role = {});

}  // namespace stemflow
