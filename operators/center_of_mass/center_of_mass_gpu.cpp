// SPDX-License-Identifier: GPL-3.0-or-later
// center_of_mass's GPU twin hook: its region, whose moments the fused pass's frame pass sums
// (operators/gpu/detector_kernels.cu).
#include "operators/center_of_mass/center_of_mass.hpp"
#include "operators/gpu/device_pass.hpp"

namespace stemflow::ops {

void CenterOfMassOp::offer_device(gpu::DevicePass& pass) const {
  pass.add_com({mask().binary(), mask().dense()});
}

}  // namespace stemflow::ops
