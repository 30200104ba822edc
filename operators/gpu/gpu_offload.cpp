// SPDX-License-Identifier: GPL-3.0-or-later
// Offload with CUDA: maps the pipeline's operators onto one BatchProcessor per series, as each
// operator offers its task (Operator::offer_device).
#include "operators/gpu/gpu_offload.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>

#include "operators/gpu/batch_processor.hpp"
#include "operators/gpu/device_pass.hpp"

namespace stemflow::gpu {

bool built_with_cuda() { return true; }

namespace {

std::string describe(const DeviceInfo& d) {
  char mem[32];
  std::snprintf(mem, sizeof mem, "%.1f GiB", double(d.memory_bytes) / double(1ull << 30));
  return "cuda:" + std::to_string(d.index) + " (" + d.name + ", sm_" + std::to_string(d.cc_major) +
         std::to_string(d.cc_minor) + ", " + mem + ")";
}

}  // namespace

DeviceChoice choose_device(std::string_view requested, const std::string& where) {
  DeviceChoice c;
  if (requested == "cpu") {
    spdlog::info("pipeline.device = cpu");
    return c;
  }
  std::string why;
  const int n = cuda_device_count(&why);
  if (n == 0) {
    if (requested == "cuda") {
      throw ConfigError(where + ": \"cuda\" but no CUDA device is available (" + why + ")");
    }
    spdlog::info("pipeline.device = auto: no CUDA device ({}), using the CPU", why);
    return c;
  }
  DeviceInfo info;
  try {
    info = cuda_device_info(0);
  } catch (const ConfigError& e) {
    if (requested == "cuda") throw ConfigError(where + ": " + e.what());
    spdlog::warn("pipeline.device = auto: CUDA device 0 cannot be queried ({}), using the CPU",
                 e.what());
    return c;
  }
  c.cuda = true;
  c.required = requested == "cuda";
  c.index = 0;
  c.description = describe(info);
  spdlog::info("pipeline.device = {}: using {}", std::string(requested), c.description);
  return c;
}

struct Offload::State {
  using Stage = DeviceTask::Stage;
  std::vector<std::optional<DeviceTask>> assign;  // per operator; empty = the CPU runs it
  std::unique_ptr<BatchProcessor> processor;
  std::size_t n_bragg = 0, n_det = 0, n_com = 0;
  std::uint32_t rows = 0, cols = 0;
  std::atomic<std::uint64_t> pattern_frames{0};
  std::atomic<std::uint64_t> failed_batches{0};
};

Offload::Offload(DeviceChoice device)
    : device_(std::move(device)), state_(std::make_unique<State>()) {}
Offload::~Offload() = default;

BatchPool::MemoryHooks Offload::pinning() const {
  BatchPool::MemoryHooks h;
  h.on_allocate = [](void* p, std::size_t bytes) {
    const std::string err = pin_host_memory(p, bytes);
    if (!err.empty()) {
      spdlog::warn(
          "could not page-lock the {} MiB batch pool ({}): host-to-device copies run at "
          "pageable speed (raise the memlock limit)",
          bytes >> 20,
          err);
    }
  };
  h.on_release = [](void* p, std::size_t) { unpin_host_memory(p); };
  return h;
}

void Offload::start(const SeriesHeader& series,
                    const std::vector<std::unique_ptr<Operator>>& operators,
                    std::uint32_t batch_capacity) {
  State& st = *state_;
  st.processor.reset();
  st.assign.assign(operators.size(), {});
  st.n_bragg = st.n_det = st.n_com = 0;
  st.pattern_frames = 0;
  st.failed_batches = 0;
  st.rows = series.frame_rows;
  st.cols = series.frame_cols;

  std::size_t smem_optin = kHopperSharedMemoryOptin;
  try {
    smem_optin = cuda_device_info(device_.index).smem_optin;
  } catch (const ConfigError&) {
  }

  DevicePass pass(series, smem_optin);
  std::string on_gpu, on_cpu;
  const auto note = [](std::string& list, const Operator& op) {
    list += (list.empty() ? "" : ", ") + std::string(op.type()) + " '" + op.name() + "'";
  };
  for (std::size_t o = 0; o < operators.size(); ++o) {
    const Operator& op = *operators[o];
    st.assign[o] = pass.offer(op);
    if (!st.assign[o] && !pass.declined().empty()) {
      spdlog::info("operator '{}' runs on the CPU: {}", op.name(), pass.declined());
    }
    note(st.assign[o] ? on_gpu : on_cpu, op);
  }
  ProcessorSpec spec = std::move(pass.spec());
  spec.capacity = batch_capacity;
  spec.device = device_.index;
  st.n_bragg = spec.bragg.size();
  st.n_det = spec.detectors.size();
  st.n_com = spec.com.size();
  if (on_gpu.empty()) {
    spdlog::info("series {}: no operator runs on {}", series.series_id, device_.description);
    return;
  }
  try {
    st.processor = std::make_unique<BatchProcessor>(std::move(spec));
  } catch (const ConfigError& e) {
    st.assign.assign(operators.size(), {});
    if (device_.required) throw ConfigError(std::string("GPU set-up failed: ") + e.what());
    spdlog::error("series {}: GPU set-up failed, all operators run on the CPU: {}",
                  series.series_id,
                  e.what());
    return;
  }
  spdlog::info(
      "series {}: {} runs {} ({} stream slots, {} MiB device memory, batches of {} frames)",
      series.series_id,
      device_.description,
      on_gpu,
      st.processor->slots(),
      st.processor->device_bytes() >> 20,
      batch_capacity);
  if (!on_cpu.empty()) spdlog::info("series {}: the CPU runs {}", series.series_id, on_cpu);
}

bool Offload::runs(std::size_t index) const {
  const State& st = *state_;
  return st.processor && index < st.assign.size() && st.assign[index].has_value();
}

bool Offload::active() const { return state_->processor != nullptr; }

void Offload::process(FrameBatch& batch) noexcept {
  State& st = *state_;
  if (!st.processor) return;
  UnpackTargets t;
  t.bragg.assign(st.n_bragg, nullptr);
  t.detectors.assign(st.n_det, nullptr);
  t.com.assign(st.n_com, nullptr);
  for (std::size_t o = 0; o < st.assign.size() && o < batch.results.size(); ++o) {
    const auto& a = st.assign[o];
    if (!a) continue;
    OperatorResults* r = &batch.results[o];
    switch (a->stage) {
      case State::Stage::kBragg:
        t.bragg[a->index] = r;
        break;
      case State::Stage::kDetector:
        t.detectors[a->index] = r;
        break;
      case State::Stage::kCom:
        t.com[a->index] = r;
        break;
      case State::Stage::kMeanPattern:
      case State::Stage::kMaxPattern:
        t.patterns.push_back(r);
        break;
    }
  }
  try {
    auto r = st.processor->process(batch.pixels, batch.count, t);
    if (r) {
      st.pattern_frames.fetch_add(r->pattern_frames, std::memory_order_relaxed);
      return;
    }
    // A rare event (a broken device); the first few are logged in full.
    if (st.failed_batches.fetch_add(1) < 5) {
      spdlog::error("GPU batch of {} frames failed: {}", batch.count, r.error().message);
    }
  } catch (const std::exception& e) {
    if (st.failed_batches.fetch_add(1) < 5) spdlog::error("GPU batch failed: {}", e.what());
  }
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  for (std::size_t o = 0; o < st.assign.size() && o < batch.results.size(); ++o) {
    if (!st.assign[o]) continue;
    OperatorResults& r = batch.results[o];
    for (std::uint32_t i = 0; i < batch.count; ++i) {
      r.failed[i] = 1;
      if (!r.peak_counts.empty()) r.peak_counts[i] = 0;
      for (double& v : r.frame_scalars(i)) v = kNaN;
    }
  }
}

std::vector<SeriesImage> Offload::finish(std::size_t index) {
  State& st = *state_;
  if (!runs(index)) return {};
  const auto stage = st.assign[index]->stage;
  if (stage != State::Stage::kMeanPattern && stage != State::Stage::kMaxPattern) return {};
  const std::uint64_t frames = st.pattern_frames.load();
  SeriesImage img{"", st.rows, st.cols, {}, "counts"};
  img.combine = stage == State::Stage::kMeanPattern ? Combine::kMean : Combine::kMax;
  img.frames = frames;
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  try {
    if (stage == State::Stage::kMeanPattern) {
      img.values = st.processor->mean_sum();
      for (auto& v : img.values) v = frames ? v / double(frames) : kNaN;
    } else {
      img.values = st.processor->max_pattern();
      if (frames == 0) img.values.assign(img.values.size(), kNaN);
    }
  } catch (const std::exception& e) {
    spdlog::error("reading the GPU pattern accumulators failed: {}", e.what());
    img.values.assign(std::size_t{st.rows} * st.cols, kNaN);
  }
  return {img};
}

std::unique_ptr<Offload> make_offload(const DeviceChoice& device) {
  if (!device.cuda) return nullptr;
  return std::make_unique<Offload>(device);
}

}  // namespace stemflow::gpu
