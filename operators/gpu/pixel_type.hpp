// SPDX-License-Identifier: GPL-3.0-or-later
// The pixel type of frames on the device. It mirrors stemflow::Dtype; the kernel headers use this
// small enum so that device code includes no pipeline headers.
#pragma once

#include <cstdint>

namespace stemflow::gpu {

enum class PixelType : std::uint8_t { kU8, kU16, kU32, kF32 };

}  // namespace stemflow::gpu
