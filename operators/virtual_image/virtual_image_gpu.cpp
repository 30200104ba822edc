// SPDX-License-Identifier: GPL-3.0-or-later
// virtual_image's GPU twin hook: its mask, summed in the fused pass's frame pass
// (operators/gpu/detector_kernels.cu).
#include "operators/gpu/device_pass.hpp"
#include "operators/virtual_image/virtual_image.hpp"

namespace stemflow::ops {

void VirtualImageOp::offer_device(gpu::DevicePass& pass) const {
  pass.add_detector({mask().binary(), mask().dense()});
}

}  // namespace stemflow::ops
