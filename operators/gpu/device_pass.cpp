// SPDX-License-Identifier: GPL-3.0-or-later
#include "operators/gpu/device_pass.hpp"

#include <stdexcept>
#include <utility>

namespace stemflow::gpu {

DevicePass::DevicePass(const SeriesHeader& series, std::size_t smem_optin)
    : smem_optin_(smem_optin) {
  spec_.rows = series.frame_rows;
  spec_.cols = series.frame_cols;
  spec_.dtype = series.dtype;
}

void DevicePass::take(DeviceTask task) {
  // One task per operator: a second one would leave results the operator does not own.
  if (task_) throw std::logic_error("an operator offered the GPU pass two tasks");
  task_ = task;
}

void DevicePass::add_bragg(BraggTask task) {
  take({DeviceTask::Stage::kBragg, spec_.bragg.size()});
  spec_.bragg.push_back(std::move(task));
}

void DevicePass::add_detector(DetectorSpec mask) {
  if (spec_.detectors.size() + spec_.com.size() >= kMaxPackedMasks) {
    return decline("the GPU pass sums at most " + std::to_string(kMaxPackedMasks) +
                   " virtual detector and centre-of-mass masks");
  }
  take({DeviceTask::Stage::kDetector, spec_.detectors.size()});
  spec_.detectors.push_back(std::move(mask));
}

void DevicePass::add_com(DetectorSpec region) {
  if (spec_.detectors.size() + spec_.com.size() >= kMaxPackedMasks) {
    return decline("the GPU pass sums at most " + std::to_string(kMaxPackedMasks) +
                   " virtual detector and centre-of-mass masks");
  }
  take({DeviceTask::Stage::kCom, spec_.com.size()});
  spec_.com.push_back(std::move(region));
}

void DevicePass::add_mean_pattern() {
  take({DeviceTask::Stage::kMeanPattern, 0});
  spec_.mean_pattern = true;
}

void DevicePass::add_max_pattern() {
  take({DeviceTask::Stage::kMaxPattern, 0});
  spec_.max_pattern = true;
}

void DevicePass::decline(std::string why) { why_ = std::move(why); }

std::optional<DeviceTask> DevicePass::offer(const Operator& op) {
  task_.reset();
  why_.clear();
  op.offer_device(*this);
  return task_;
}

}  // namespace stemflow::gpu
