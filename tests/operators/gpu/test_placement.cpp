// SPDX-License-Identifier: GPL-3.0-or-later
// Placement as a contract, on every machine: each operator offers its own GPU task (DevicePass
// records the stage and builds the ProcessorSpec, or keeps the operator on the CPU with a reason),
// and the Placement on the CPU runs every operator exactly as calling it directly does.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "operators/bragg_disks/bragg_disks.hpp"
#include "operators/center_of_mass/center_of_mass.hpp"
#include "operators/gpu/device_pass.hpp"
#include "operators/gpu/placement.hpp"
#include "operators/max_pattern/max_pattern.hpp"
#include "operators/mean_pattern/mean_pattern.hpp"
#include "operators/virtual_image/virtual_image.hpp"
#include "tests/support/test_data.hpp"

using namespace stemflow;

namespace {

SeriesHeader header(std::uint32_t side) {
  SeriesHeader h;
  h.scan_rows = 2;
  h.scan_cols = 3;
  h.frame_rows = h.frame_cols = side;
  h.dtype = Dtype::kU16;
  return h;
}

ops::DetectorGeometry circle(double r) {
  ops::DetectorGeometry g;
  g.shape = ops::DetectorShape::kCircle;
  g.center = {8, 8};
  g.radius = r;
  return g;
}

std::vector<const Operator*> raw(const std::vector<std::unique_ptr<Operator>>& ops) {
  std::vector<const Operator*> r;
  for (const auto& o : ops) r.push_back(o.get());
  return r;
}

}  // namespace

// Spec: every operator with a GPU twin offers its own stage, numbered within the stage in pipeline
// order; the spec the pass builds holds each task.
TEST(DevicePass, EachOperatorOffersItsStage) {
  const auto h = header(16);
  ops::BraggDisksParams bp;
  bp.subpixel = ops::Subpixel::kPoly;
  bp.edge_boundary = 2;
  ops::ProbeKernel kernel{16, 16, std::vector<double>(256, 0.0)};
  kernel.values[0] = 1.0;
  std::vector<std::unique_ptr<Operator>> ops;
  ops.push_back(std::make_unique<ops::VirtualImageOp>("bf", circle(3)));
  ops.push_back(std::make_unique<ops::CenterOfMassOp>("com", ops::DetectorGeometry{}));
  ops.push_back(std::make_unique<ops::VirtualImageOp>("adf", circle(6)));
  ops.push_back(std::make_unique<ops::MeanPatternOp>("mean"));
  ops.push_back(std::make_unique<ops::MaxPatternOp>("max"));
  ops.push_back(std::make_unique<ops::BraggDisksOp>("bragg", bp, kernel));
  for (auto& o : ops) o->start(h);

  gpu::DevicePass pass(h, gpu::kHopperSharedMemoryOptin);
  using Stage = gpu::DeviceTask::Stage;
  const std::vector<std::pair<Stage, std::size_t>> want = {{Stage::kDetector, 0},
                                                           {Stage::kCom, 0},
                                                           {Stage::kDetector, 1},
                                                           {Stage::kMeanPattern, 0},
                                                           {Stage::kMaxPattern, 0},
                                                           {Stage::kBragg, 0}};
  for (std::size_t o = 0; o < ops.size(); ++o) {
    const auto task = pass.offer(*ops[o]);
    ASSERT_TRUE(task.has_value()) << ops[o]->name() << ": " << pass.declined();
    EXPECT_EQ(task->stage, want[o].first) << ops[o]->name();
    EXPECT_EQ(task->index, want[o].second) << ops[o]->name();
  }
  const auto& spec = pass.spec();
  EXPECT_EQ(spec.rows, 16u);
  EXPECT_EQ(spec.cols, 16u);
  EXPECT_EQ(spec.dtype, Dtype::kU16);
  EXPECT_EQ(spec.detectors.size(), 2u);
  EXPECT_EQ(spec.com.size(), 1u);
  EXPECT_EQ(spec.bragg.size(), 1u);
  EXPECT_TRUE(spec.mean_pattern);
  EXPECT_TRUE(spec.max_pattern);
  const auto& bf = dynamic_cast<const ops::VirtualImageOp&>(*ops[0]);
  EXPECT_EQ(spec.detectors[0].weights, bf.mask().dense());
}

// Spec: an operator whose parameters the device does not support stays on the CPU and says why; an
// operator without a GPU twin stays there silently.
TEST(DevicePass, UnsupportedParametersKeepTheOperatorOnTheCpu) {
  const auto h = header(16);
  ops::BraggDisksParams bp;
  bp.precision = ops::Precision::kF64;
  ops::BraggDisksOp f64("exact", bp, ops::ProbeKernel{16, 16, std::vector<double>(256, 1.0)});
  f64.start(h);
  gpu::DevicePass pass(h, gpu::kHopperSharedMemoryOptin);
  EXPECT_FALSE(pass.offer(f64).has_value());
  EXPECT_NE(pass.declined().find("f64"), std::string::npos) << pass.declined();
  EXPECT_TRUE(pass.spec().bragg.empty());

  struct CpuOnly final : Operator {
    CpuOnly() : Operator("cpu_only") {}
    std::string_view type() const override { return "cpu_only"; }
    void start(const SeriesHeader&) override {}
    OutputSpec outputs() const override { return {}; }
    void process(const FrameBatch&, OperatorResults&) const override {}
  } cpu_only;
  EXPECT_FALSE(pass.offer(cpu_only).has_value());
  EXPECT_TRUE(pass.declined().empty());
}

// Edge case: the pass packs at most kMaxPackedMasks detector and CoM masks; the next one stays on
// the CPU with the reason.
TEST(DevicePass, MasksBeyondThePackedLimitStayOnTheCpu) {
  const auto h = header(16);
  std::vector<std::unique_ptr<Operator>> ops;
  for (std::size_t i = 0; i <= gpu::kMaxPackedMasks; ++i) {
    if (i % 2) {
      ops.push_back(std::make_unique<ops::VirtualImageOp>("vi" + std::to_string(i), circle(4)));
    } else {
      ops.push_back(std::make_unique<ops::CenterOfMassOp>("com" + std::to_string(i), circle(4)));
    }
    ops.back()->start(h);
  }
  gpu::DevicePass pass(h, gpu::kHopperSharedMemoryOptin);
  for (std::size_t o = 0; o < gpu::kMaxPackedMasks; ++o) EXPECT_TRUE(pass.offer(*ops[o]));
  EXPECT_FALSE(pass.offer(*ops.back()).has_value());
  EXPECT_FALSE(pass.declined().empty());
  EXPECT_EQ(pass.spec().detectors.size() + pass.spec().com.size(), gpu::kMaxPackedMasks);
}

// Spec: on the CPU the placement runs every operator on the batch, as calling each one does,
// reports a time for each, and takes each operator's series images from the operator.
TEST(Placement, OnTheCpuRunsEveryOperator) {
  const auto h = header(16);
  std::vector<std::uint16_t> pixels(h.scan_size() * h.frame_pixels());
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = std::uint16_t((i * 7919) % 251);
  auto make = [] {
    std::vector<std::unique_ptr<Operator>> ops;
    ops.push_back(std::make_unique<ops::VirtualImageOp>("bf", circle(3)));
    ops.push_back(std::make_unique<ops::CenterOfMassOp>("com", ops::DetectorGeometry{}));
    ops.push_back(std::make_unique<ops::MeanPatternOp>("mean"));
    return ops;
  };
  auto direct = make();
  auto placed = make();
  for (auto& o : direct) o->start(h);
  for (auto& o : placed) o->start(h);

  std::vector<int> timed(placed.size(), 0);
  gpu::Placement placement(gpu::DeviceChoice{}, placed, [&](std::size_t o, double s) {
    EXPECT_GE(s, 0.0);
    ++timed[o];  // one batch at a time here: no race
  });
  EXPECT_FALSE(placement.pinning().on_allocate);
  placement.start(h, 6);
  test::TestBatch d(h, pixels.data(), 0, 6, raw(direct));
  test::TestBatch p(h, pixels.data(), 0, 6, raw(placed));
  for (std::size_t o = 0; o < direct.size(); ++o) direct[o]->process(d.batch, d.batch.results[o]);
  placement.process(p.batch);
  for (std::size_t o = 0; o < placed.size(); ++o) {
    EXPECT_FALSE(placement.on_device(o));
    EXPECT_EQ(timed[o], 1) << placed[o]->name();
    EXPECT_EQ(p.batch.results[o].scalars, d.batch.results[o].scalars) << placed[o]->name();
    EXPECT_EQ(p.batch.results[o].failed, d.batch.results[o].failed) << placed[o]->name();
    const auto want = direct[o]->finish();
    const auto got = placement.finish(o);
    ASSERT_EQ(got.size(), want.size()) << placed[o]->name();
    for (std::size_t k = 0; k < want.size(); ++k) EXPECT_EQ(got[k].values, want[k].values);
  }
}

// Edge case: an operator that throws fails its frames of the batch; the others are unaffected.
TEST(Placement, AThrowingOperatorFailsItsFrames) {
  const auto h = header(16);
  std::vector<std::uint16_t> pixels(h.scan_size() * h.frame_pixels(), 1);
  struct Throws final : Operator {
    Throws() : Operator("throws") {}
    std::string_view type() const override { return "throws"; }
    void start(const SeriesHeader&) override {}
    OutputSpec outputs() const override { return {}; }
    void process(const FrameBatch&, OperatorResults&) const override {
      throw std::runtime_error("broken");
    }
  };
  std::vector<std::unique_ptr<Operator>> ops;
  ops.push_back(std::make_unique<Throws>());
  ops.push_back(std::make_unique<ops::VirtualImageOp>("bf", circle(3)));
  for (auto& o : ops) o->start(h);
  gpu::Placement placement(gpu::DeviceChoice{}, ops);
  placement.start(h, 4);
  test::TestBatch b(h, pixels.data(), 0, 4, raw(ops));
  placement.process(b.batch);
  EXPECT_EQ(b.batch.results[0].failed, std::vector<std::uint8_t>(4, 1));
  EXPECT_EQ(b.batch.results[1].failed, std::vector<std::uint8_t>(4, 0));
}
