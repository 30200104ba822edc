// SPDX-License-Identifier: GPL-3.0-or-later
// The detector geometry keys of the detector-based operators (virtual_image, center_of_mass) and
// their conversion into a DetectorGeometry: one definition, as the geometry itself is one
// (detector_mask.hpp).
#pragma once

#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/schema.hpp"
#include "operators/virtual_image/detector_mask.hpp"

namespace stemflow::ops {

//! The keys detector, center, radius, radii, bounds, mask. Units are detector pixels, qx = row
//! index, qy = column index, pixel centres at integers, as in py4DSTEM.
std::vector<config::KeySpec> detector_keys(std::string_view default_detector,
                                           std::vector<std::string_view> choices);

//! The geometry the keys describe; a mask file is read relative to the configuration file. Throws
//! ConfigError naming the key for a missing key of the shape, a key of another shape, or a mask
//! file that cannot be read.
DetectorGeometry detector_geometry(const config::Params& p, const config::Config& config);

}  // namespace stemflow::ops
