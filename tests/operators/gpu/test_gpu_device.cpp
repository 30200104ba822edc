// SPDX-License-Identifier: GPL-3.0-or-later
// pipeline.device: "cpu" is always the CPU; "cuda" without a usable GPU (or in a build without
// CUDA) is a ConfigError naming the key; "auto" falls back to the CPU there. Runs on every machine;
// the branch for a present GPU checks that "auto" takes it and names it. Also the pool's pinning
// hooks.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "operators/gpu/gpu_offload.hpp"
#include "pipeline/core/batch_pool.hpp"
#include "pipeline/core/expected.hpp"

using namespace stemflow;

// Spec: "cpu" never touches CUDA.
TEST(GpuDevice, CpuIsTheCpu) {
  const auto c = gpu::choose_device("cpu", "run.toml:3: pipeline.device");
  EXPECT_FALSE(c.cuda);
  EXPECT_EQ(c.description, "cpu");
  EXPECT_EQ(gpu::make_offload(c), nullptr);
}

// Spec: "auto" picks CUDA exactly when a device is present; "cuda" without one is a clear error.
TEST(GpuDevice, AutoAndCudaFollowTheHardware) {
  const auto a = gpu::choose_device("auto", "run.toml:3: pipeline.device");
  if (a.cuda) {
    EXPECT_TRUE(gpu::built_with_cuda());
    EXPECT_EQ(a.description.rfind("cuda:0 (", 0), 0u) << a.description;
    EXPECT_FALSE(a.required);
    const auto c = gpu::choose_device("cuda", "run.toml:3: pipeline.device");
    EXPECT_TRUE(c.cuda);
    EXPECT_TRUE(c.required);
    EXPECT_NE(gpu::make_offload(c), nullptr);
    return;
  }
  EXPECT_EQ(a.description, "cpu");
  try {
    gpu::choose_device("cuda", "run.toml:3: pipeline.device");
    FAIL() << "\"cuda\" without a device must be a ConfigError";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("run.toml:3: pipeline.device"), std::string::npos) << what;
    EXPECT_NE(what.find("cuda"), std::string::npos) << what;
  }
}

// Spec: the batch pool hands its pixel memory to the pinning hooks once after allocating it and
// once before freeing it (the engine passes cudaHostRegister / cudaHostUnregister through them).
TEST(GpuDevice, BatchPoolCallsThePinningHooks) {
  void* pinned = nullptr;
  std::size_t pinned_bytes = 0;
  int allocs = 0, releases = 0;
  BatchPool::MemoryHooks hooks;
  hooks.on_allocate = [&](void* p, std::size_t b) {
    pinned = p;
    pinned_bytes = b;
    ++allocs;
  };
  hooks.on_release = [&](void* p, std::size_t b) {
    EXPECT_EQ(p, pinned);
    EXPECT_EQ(b, pinned_bytes);
    ++releases;
  };
  {
    BatchPool pool(1 << 20, hooks);
    EXPECT_EQ(allocs, 1);
    EXPECT_EQ(releases, 0);
    EXPECT_NE(pinned, nullptr);
    EXPECT_GE(pinned_bytes, std::size_t{1} << 20);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(pinned) % 4096, 0u);  // page-aligned for the DMA
  }
  EXPECT_EQ(releases, 1);
  // Without hooks nothing is called.
  BatchPool plain(1 << 16);
  EXPECT_EQ(allocs, 1);
}

// Spec: an Offload on the CPU-only build, or before start(), runs nothing and never throws.
TEST(GpuDevice, OffloadWithoutSeriesRunsNothing) {
  gpu::DeviceChoice c;  // cpu
  gpu::Offload off(c);
  EXPECT_FALSE(off.active());
  EXPECT_FALSE(off.runs(0));
  FrameBatch b;
  off.process(b);
  EXPECT_TRUE(off.finish(0).empty());
}
