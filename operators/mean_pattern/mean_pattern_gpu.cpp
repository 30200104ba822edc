// SPDX-License-Identifier: GPL-3.0-or-later
// mean_pattern's GPU twin hook: the fused pass accumulates the per-pixel sum on the device.
#include "operators/gpu/device_pass.hpp"
#include "operators/mean_pattern/mean_pattern.hpp"

namespace stemflow::ops {

void MeanFold::offer_device(gpu::DevicePass& pass) { pass.add_mean_pattern(); }

}  // namespace stemflow::ops
