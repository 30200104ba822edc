// SPDX-License-Identifier: GPL-3.0-or-later
// Offload without CUDA (STEMFLOW_CUDA=OFF or no nvcc): every operator runs on the CPU.
#include <spdlog/spdlog.h>

#include "operators/gpu/gpu_offload.hpp"
#include "pipeline/core/expected.hpp"

namespace stemflow::gpu {

bool built_with_cuda() { return false; }

DeviceChoice choose_device(std::string_view requested, const std::string& where) {
  if (requested == "cuda") {
    throw ConfigError(where +
                      ": \"cuda\" is not available: this build has no CUDA support "
                      "(configure with -DSTEMFLOW_CUDA=ON on a machine with the CUDA toolkit)");
  }
  if (requested == "auto") {
    spdlog::info("pipeline.device = auto: this build has no CUDA support, using the CPU");
  } else {
    spdlog::info("pipeline.device = cpu");
  }
  return {};
}

struct Offload::State {};

Offload::Offload(DeviceChoice device) : device_(std::move(device)) {}
Offload::~Offload() = default;
BatchPool::MemoryHooks Offload::pinning() const { return {}; }
void Offload::start(const SeriesHeader&,
                    const std::vector<std::unique_ptr<Operator>>&,
                    std::uint32_t) {}
bool Offload::runs(std::size_t) const { return false; }
bool Offload::active() const { return false; }
void Offload::process(FrameBatch&) noexcept {}
std::vector<SeriesImage> Offload::finish(std::size_t) { return {}; }

std::unique_ptr<Offload> make_offload(const DeviceChoice&) { return nullptr; }

}  // namespace stemflow::gpu
