// SPDX-License-Identifier: GPL-3.0-or-later
// CPU kernels of virtual imaging: the masked sum and the masked first moments of one frame. For
// integer pixels and binary masks the sums are exact (integer accumulation, one conversion at the
// end), so they equal py4DSTEM's (numpy sums uint16 * bool in uint64) bit for bit.
#pragma once

#include <cstdint>

#include "operators/virtual_image/detector_mask.hpp"

namespace stemflow::ops {

//! sum(frame * mask), in float64.
template <class PixelT>
double masked_sum(const PixelT* frame, const DetectorMask& mask);

//! sum(I), sum(I * qx), sum(I * qy) over the mask; qx = row index, qy = column index.
struct Moments {
  double sum = 0;
  double sum_qx = 0;
  double sum_qy = 0;
};
template <class PixelT>
Moments masked_moments(const PixelT* frame, const DetectorMask& mask);

}  // namespace stemflow::ops
