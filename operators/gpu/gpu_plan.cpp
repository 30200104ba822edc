// SPDX-License-Identifier: GPL-3.0-or-later
#include "operators/gpu/gpu_plan.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "operators/bragg_disks/numpy_compat.hpp"
#include "operators/gpu/multicorr_shape.hpp"

namespace stemflow::gpu {

PixelType pixel_type(Dtype d) {
  switch (d) {
    case Dtype::kU8:
      return PixelType::kU8;
    case Dtype::kU16:
      return PixelType::kU16;
    case Dtype::kU32:
      return PixelType::kU32;
    case Dtype::kF32:
      break;
  }
  return PixelType::kF32;
}

std::optional<std::string> bragg_unsupported_reason(const ops::BraggDisksParams& p,
                                                    bool has_template,
                                                    std::uint32_t rows,
                                                    std::uint32_t cols,
                                                    std::size_t smem_optin) {
  if (p.precision == ops::Precision::kF64) {
    return "precision = f64 (the GPU computes in float32; f64 is the exact py4DSTEM reproduction)";
  }
  if (!has_template && p.no_template_applies_ifft) {
    return "no template with no_template_applies_ifft = true (py4DSTEM's no-template bug mode)";
  }
  if (p.sigma_dp > 0) return "sigma_dp > 0 (pattern smoothing before the FFT is CPU-only)";
  if (rows < 3 || cols < 3) return "frames smaller than 3 x 3";
  if (p.max_num_peaks > kMaxGpuPeaks) {
    return "max_num_peaks above " + std::to_string(kMaxGpuPeaks);
  }
  if (rows > kMaxFrameSide || cols > kMaxFrameSide) return "frame sides above 65535";
  const auto w = ops::npc::gaussian_weights(p.sigma);
  if (!w.empty() && static_cast<int>(w.size()) - 1 > kMaxGaussRadius) {
    return "sigma = " + std::to_string(p.sigma) + " (Gaussian radius above " +
           std::to_string(kMaxGaussRadius) + " px)";
  }
  if (p.subpixel == ops::Subpixel::kMulticorr) {
    const auto g = multicorr_geometry(rows, cols, p.upsample_factor);
    if (g.smem_bytes > smem_optin) {
      return "multicorr with upsample_factor = " + std::to_string(p.upsample_factor) + " needs " +
             std::to_string(g.smem_bytes) +
             " bytes of shared memory per block (device: " + std::to_string(smem_optin) + ")";
    }
  }
  return std::nullopt;
}

std::uint32_t max_candidates(std::uint32_t rows, std::uint32_t cols, int edge_boundary) {
  const long eb = std::max(edge_boundary, 1);
  const long h = std::max(0L, long(rows) - 2 * eb);
  const long w = std::max(0L, long(cols) - 2 * eb);
  // At least 1 so that every frame's candidate segment has a valid start.
  return static_cast<std::uint32_t>(std::max(1L, ((h + 1) / 2) * ((w + 1) / 2)));
}

MulticorrGeometry multicorr_geometry(std::uint32_t rows, std::uint32_t cols, int upsample_factor) {
  MulticorrGeometry g;
  g.us = upsample_factor;
  g.n = static_cast<int>(std::ceil(1.5 * upsample_factor));
  g.g = static_cast<int>(std::trunc(std::ceil(upsample_factor * 1.5) / 2));
  g.lx = static_cast<long long>(rows) * upsample_factor;
  g.ly = static_cast<long long>(cols) * upsample_factor;
  g.ncols = cols / 2 + 1;
  g.nyq_row = rows % 2 == 0;
  g.nyq_col = cols % 2 == 0;
  g.smem_bytes = multicorr_smem_bytes(g.n, g.ncols);
  return g;
}

double exact_to_double(const DeviceSum& s) {
  const unsigned __int128 v = (static_cast<unsigned __int128>(s.hi) << 64) | s.lo;
  return static_cast<double>(v);
}

namespace {
std::size_t align_up(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }
}  // namespace

ResultLayout make_result_layout(std::uint32_t capacity,
                                std::span<const std::uint32_t> bragg_max_peaks,
                                std::uint32_t detectors,
                                std::uint32_t com) {
  // Every array starts on a 256-byte boundary (cudaMalloc's alignment), so that device code may use
  // vector accesses and the host reads naturally aligned records.
  constexpr std::size_t kAlign = 256;
  ResultLayout l;
  l.capacity = capacity;
  std::size_t off = 0;
  l.bad_offset = off;
  off = align_up(off + capacity, kAlign);
  for (std::uint32_t mp : bragg_max_peaks) {
    ResultLayout::Bragg b;
    b.max_peaks = mp;
    b.counts_offset = off;
    off = align_up(off + std::size_t{capacity} * sizeof(std::uint32_t), kAlign);
    b.peaks_offset = off;
    off = align_up(off + std::size_t{capacity} * mp * sizeof(Peak), kAlign);
    l.bragg.push_back(b);
  }
  l.detectors = detectors;
  l.detectors_offset = off;
  off = align_up(off + std::size_t{capacity} * detectors * sizeof(DeviceSum), kAlign);
  l.com = com;
  l.com_offset = off;
  off = align_up(off + std::size_t{capacity} * com * 3 * sizeof(DeviceSum), kAlign);
  l.bytes = std::max<std::size_t>(off, kAlign);
  return l;
}

PackedMasks pack_masks(std::span<const DetectorSpec> masks, std::size_t pixels) {
  if (masks.size() > kMaxPackedMasks) throw std::invalid_argument("pack_masks: at most 32 masks");
  PackedMasks out;
  out.bits.assign(pixels, 0);
  for (std::size_t d = 0; d < masks.size(); ++d) {
    const auto& m = masks[d];
    if (m.weights.size() != pixels) {
      throw std::invalid_argument("pack_masks: mask " + std::to_string(d) + " has " +
                                  std::to_string(m.weights.size()) + " weights, expected " +
                                  std::to_string(pixels));
    }
    out.binary.push_back(m.binary);
    if (m.binary) {
      for (std::size_t p = 0; p < pixels; ++p) {
        if (m.weights[p] != 0.0) out.bits[p] |= 1u << d;
      }
      out.dense.emplace_back();
    } else {
      out.dense.push_back(m.weights);
    }
  }
  return out;
}

namespace {
// A sum as the CPU operator has it: integer-exact for integer pixels summed over a binary mask,
// otherwise the float64 sum.
double sum_value(const DeviceSum& s, bool exact) { return exact ? exact_to_double(s) : s.value; }
}  // namespace

UnpackCounts unpack_results(const std::byte* block,
                            const ResultLayout& layout,
                            std::uint32_t count,
                            bool integer_pixels,
                            std::span<const std::uint8_t> detector_binary,
                            std::span<const std::uint8_t> com_binary,
                            const UnpackTargets& targets) {
  UnpackCounts counts;
  const auto* bad = reinterpret_cast<const std::uint8_t*>(block + layout.bad_offset);
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

  for (std::size_t b = 0; b < layout.bragg.size() && b < targets.bragg.size(); ++b) {
    OperatorResults* out = targets.bragg[b];
    if (out == nullptr) continue;
    const auto& lb = layout.bragg[b];
    const auto* n_peaks = reinterpret_cast<const std::uint32_t*>(block + lb.counts_offset);
    const auto* peaks = reinterpret_cast<const Peak*>(block + lb.peaks_offset);
    const std::uint32_t mp = std::min(lb.max_peaks, out->max_peaks);
    for (std::uint32_t i = 0; i < count; ++i) {
      if (bad[i]) {  // BraggDisksOp: a frame with NaN/inf pixels has no peaks and count NaN
        out->failed[i] = 1;
        if (!out->peak_counts.empty()) out->peak_counts[i] = 0;
        if (out->scalars_per_frame > 0) out->frame_scalars(i)[0] = kNaN;
        ++counts.bragg_failed;
        continue;
      }
      const std::uint32_t n = std::min(n_peaks[i], mp);
      out->failed[i] = 0;
      if (!out->peak_counts.empty()) out->peak_counts[i] = n;
      if (out->scalars_per_frame > 0) out->frame_scalars(i)[0] = double(n);
      if (n > 0) {
        std::memcpy(
            out->frame_peaks(i).data(), peaks + std::size_t{i} * lb.max_peaks, n * sizeof(Peak));
      }
    }
  }

  const auto* det = reinterpret_cast<const DeviceSum*>(block + layout.detectors_offset);
  for (std::size_t d = 0; d < layout.detectors && d < targets.detectors.size(); ++d) {
    OperatorResults* out = targets.detectors[d];
    if (out == nullptr) continue;
    const bool exact = integer_pixels && d < detector_binary.size() && detector_binary[d];
    for (std::uint32_t i = 0; i < count; ++i) {
      const double v = sum_value(det[std::size_t{i} * layout.detectors + d], exact);
      out->frame_scalars(i)[0] = v;  // VirtualImageOp: sum(frame * mask)
      out->failed[i] = !std::isfinite(v);
    }
  }

  const auto* com = reinterpret_cast<const DeviceSum*>(block + layout.com_offset);
  for (std::size_t c = 0; c < layout.com && c < targets.com.size(); ++c) {
    OperatorResults* out = targets.com[c];
    if (out == nullptr) continue;
    const bool exact = integer_pixels && c < com_binary.size() && com_binary[c];
    for (std::uint32_t i = 0; i < count; ++i) {
      const DeviceSum* m = com + (std::size_t{i} * layout.com + c) * 3;
      const double sum = sum_value(m[0], exact);
      const double sum_qx = sum_value(m[1], exact);
      const double sum_qy = sum_value(m[2], exact);
      auto v = out->frame_scalars(i);  // CenterOfMassOp: qx, qy, intensity
      v[0] = sum != 0 ? sum_qx / sum : kNaN;
      v[1] = sum != 0 ? sum_qy / sum : kNaN;
      v[2] = sum;
      out->failed[i] = !std::isfinite(sum) || !std::isfinite(sum_qx) || !std::isfinite(sum_qy);
    }
  }

  for (std::uint32_t i = 0; i < count; ++i) counts.pattern_frames += bad[i] ? 0 : 1;
  for (OperatorResults* out : targets.patterns) {
    if (out == nullptr) continue;
    for (std::uint32_t i = 0; i < count; ++i) out->failed[i] = bad[i] ? 1 : 0;
  }
  return counts;
}

SlotRing::SlotRing(std::size_t slots) : n_(slots), free_(slots), count_(slots) {
  if (slots == 0) throw std::invalid_argument("SlotRing needs at least one slot");
  for (std::size_t s = 0; s < slots; ++s) free_[s] = s;
}

std::size_t SlotRing::acquire() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return count_ > 0; });
  const std::size_t s = free_[head_];
  head_ = (head_ + 1) % n_;
  --count_;
  return s;
}

void SlotRing::release(std::size_t slot) {
  {
    std::lock_guard lock(mutex_);
    if (slot >= n_ || count_ >= n_) throw std::logic_error("SlotRing::release of a free slot");
    free_[(head_ + count_) % n_] = slot;
    ++count_;
  }
  cv_.notify_one();
}

std::size_t SlotRing::free_count() const {
  std::lock_guard lock(mutex_);
  return count_;
}

}  // namespace stemflow::gpu
