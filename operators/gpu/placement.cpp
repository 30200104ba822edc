// SPDX-License-Identifier: GPL-3.0-or-later
#include "operators/gpu/placement.hpp"

#include <oneapi/tbb/parallel_for.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <exception>

#include "pipeline/core/expected.hpp"

namespace stemflow::gpu {

Placement::Placement(const DeviceChoice& device,
                     const std::vector<std::unique_ptr<Operator>>& operators,
                     BatchTimer timer)
    : operators_(operators),
      offload_(make_offload(device)),
      timer_(std::move(timer)),
      levels_(dependency_levels(operators)) {}

Placement::~Placement() = default;

BatchPool::MemoryHooks Placement::pinning() const {
  return offload_ ? offload_->pinning() : BatchPool::MemoryHooks{};
}

void Placement::start(const SeriesHeader& series, std::uint32_t batch_capacity) {
  levels_ = dependency_levels(operators_);
  if (offload_) offload_->start(series, operators_, batch_capacity);
  for (std::size_t o = 0; offload_ && o < operators_.size(); ++o) {
    // The fused pass runs at level 0, before any operator that reads another's results.
    if (offload_->runs(o) && !operators_[o]->input_indices().empty()) {
      throw ConfigError("operator '" + operators_[o]->name() +
                        "' reads other operators' results and cannot run in the GPU pass");
    }
  }
}

bool Placement::on_device(std::size_t index) const { return offload_ && offload_->runs(index); }

void Placement::process(FrameBatch& b) const {
  // Level by level (an operator reads only lower levels' results of the same batch): within a
  // level the operators run side by side on the batch, each parallel over its frames; the GPU
  // operators, which read no other operator, run together in one GPU pass (the extra index) of
  // level 0.
  const bool gpu = offload_ && offload_->active();
  for (std::size_t level = 0; level < levels_.size(); ++level) {
    const auto& ops = levels_[level];
    const bool with_gpu = gpu && level == 0;
    tbb::parallel_for(std::size_t{0}, ops.size() + (with_gpu ? 1 : 0), [&](std::size_t k) {
      if (k == ops.size()) {
        const auto t0 = std::chrono::steady_clock::now();
        offload_->process(b);  // never throws; fails its operators' frames on a GPU error
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        for (std::size_t g = 0; timer_ && g < operators_.size(); ++g) {
          if (offload_->runs(g)) timer_(g, s);
        }
        return;
      }
      const std::size_t o = ops[k];
      if (gpu && offload_->runs(o)) return;
      OperatorResults& out = b.results[o];
      const auto t0 = std::chrono::steady_clock::now();
      try {
        operators_[o]->process(b, out);
      } catch (const std::exception& e) {
        std::fill(out.failed.begin(), out.failed.begin() + b.count, 1);
        spdlog::error("operator '{}' failed on a batch: {}", operators_[o]->name(), e.what());
      }
      if (timer_) {
        timer_(o, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
    });
  }
}

std::vector<SeriesImage> Placement::finish(std::size_t index) {
  return on_device(index) ? offload_->finish(index) : operators_[index]->finish();
}

}  // namespace stemflow::gpu
