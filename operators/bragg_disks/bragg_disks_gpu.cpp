// SPDX-License-Identifier: GPL-3.0-or-later
// bragg_disks' GPU twin hook: the fused pass runs it (operators/gpu/bragg_disks_kernels.cu) when
// the device supports its parameters (gpu_plan.hpp: bragg_unsupported_reason says why not).
#include "operators/bragg_disks/bragg_disks.hpp"
#include "operators/gpu/device_pass.hpp"

namespace stemflow::ops {

void BraggDisksOp::offer_device(gpu::DevicePass& pass) const {
  if (auto why = gpu::bragg_unsupported_reason(
          params_, !kernel_.empty(), pass.rows(), pass.cols(), pass.smem_optin())) {
    return pass.decline(*why);
  }
  pass.add_bragg({params_, kernel_});
}

}  // namespace stemflow::ops
