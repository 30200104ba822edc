// SPDX-License-Identifier: GPL-3.0-or-later
// Where a bragg_disks operator's correlation template comes from: its keys `template` (a ready
// kernel), `vacuum` (a probe image or a recording of vacuum frames) or `vacuum_frames` (frames of
// the replayed file, read through the [input] section), built as py4DSTEM does
// (probe_template.hpp). Also `stemflow probe`, which writes the template out for inspection.
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include "config/config.hpp"
#include "operators/bragg_disks/probe_template.hpp"

namespace stemflow::ops {

//! The correlation template of a bragg_disks operator: a ready kernel, or one built from vacuum
//! frames (then `probe` holds the whole recipe's result: probe, alpha, origin, radii).
struct ProbeSource {
  ProbeKernel kernel;  // empty = no template
  std::optional<ProbeTemplate> probe;
};
//! Reads and builds the template named by a bragg_disks operator's keys. Throws ConfigError.
ProbeSource probe_source(const config::Params& p, const config::Config& config);

//! `stemflow probe`: builds the template of the bragg_disks operator `operator_name` (the first
//! one when empty), writes the kernel to `kernel_path` and, when given and built from vacuum
//! frames, the masked probe to `probe_path` (.npy, float64), and says what it wrote on `out`.
//! Throws ConfigError for a configuration without such an operator or without a template,
//! std::runtime_error when a file cannot be written.
void write_probe(const config::Config& config,
                 const std::string& operator_name,
                 const std::string& kernel_path,
                 const std::string& probe_path,
                 std::ostream& out);

}  // namespace stemflow::ops
