// SPDX-License-Identifier: GPL-3.0-or-later
// max_pattern's GPU twin hook: the fused pass keeps the per-pixel maximum on the device.
#include "operators/gpu/device_pass.hpp"
#include "operators/max_pattern/max_pattern.hpp"

namespace stemflow::ops {

void MaxFold::offer_device(gpu::DevicePass& pass) { pass.add_max_pattern(); }

}  // namespace stemflow::ops
