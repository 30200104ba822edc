// SPDX-License-Identifier: GPL-3.0-or-later
// Operators that read other operators' results (pipeline/core/operator.hpp): the inputs are
// checked and bound, the placement runs them after their inputs, and the plan gives the same
// ConfigError for validate and run.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "operators/gpu/placement.hpp"
#include "pipeline/core/expected.hpp"
#include "pipeline/core/operator.hpp"
#include "pipeline/plan.hpp"

using namespace stemflow;

namespace {

//! Writes index + 1 per frame, slowly, so that a reader running beside it would see zeros.
class SlowSourceOp : public Operator {
 public:
  explicit SlowSourceOp(std::string name) : Operator(std::move(name)) {}
  std::string_view type() const override { return "slow_source"; }
  void start(const SeriesHeader&) override {}
  OutputSpec outputs() const override { return {{{"", ""}}, 0}; }
  void process(const FrameBatch& b, OperatorResults& out) const override {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (std::uint32_t i = 0; i < b.count; ++i) out.frame_scalars(i)[0] = double(b.index[i] + 1);
  }
};

//! Reads the scalar of the operator it names and writes twice it.
class DoublerOp : public Operator {
 public:
  DoublerOp(std::string name, std::string input, std::string type)
      : Operator(std::move(name)), input_(std::move(input)), input_type_(std::move(type)) {}
  std::string_view type() const override { return "doubler"; }
  void start(const SeriesHeader&) override {}
  OutputSpec outputs() const override { return {{{"", ""}}, 0}; }
  std::vector<OperatorInput> inputs() const override {
    return {{"source", "test.toml:7: operators.d.source", input_, input_type_}};
  }
  void process(const FrameBatch& b, OperatorResults& out) const override {
    const auto& in = b.results[input_indices()[0]];
    for (std::uint32_t i = 0; i < b.count; ++i) {
      out.frame_scalars(i)[0] = 2 * in.frame_scalars(i)[0];
    }
  }

 private:
  std::string input_, input_type_;
};

std::vector<std::unique_ptr<Operator>> chain() {
  std::vector<std::unique_ptr<Operator>> ops;
  ops.push_back(std::make_unique<SlowSourceOp>("a"));
  ops.push_back(std::make_unique<DoublerOp>("b", "a", "slow_source"));
  ops.push_back(std::make_unique<DoublerOp>("c", "b", "doubler"));
  ops.push_back(std::make_unique<SlowSourceOp>("e"));
  return ops;
}

std::string link_error(std::vector<std::unique_ptr<Operator>> ops) {
  try {
    link_operator_inputs(ops);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// Spec: inputs are bound to their pipeline indices; levels put each operator after its inputs.
TEST(OperatorInputs, LinkBindsIndicesAndLevelsFollowDependencies) {
  auto ops = chain();
  link_operator_inputs(ops);
  EXPECT_TRUE(ops[0]->input_indices().empty());
  EXPECT_EQ(ops[1]->input_indices(), std::vector<std::size_t>{0});
  EXPECT_EQ(ops[2]->input_indices(), std::vector<std::size_t>{1});
  const auto levels = dependency_levels(ops);
  ASSERT_EQ(levels.size(), 3u);
  EXPECT_EQ(levels[0], (std::vector<std::size_t>{0, 3}));
  EXPECT_EQ(levels[1], std::vector<std::size_t>{1});
  EXPECT_EQ(levels[2], std::vector<std::size_t>{2});
}

// Spec: a missing name, the wrong type, a later operator or the operator itself is a ConfigError
// that names the key's file:line and the operators.
TEST(OperatorInputs, MissingWrongTypeOrLaterInputIsAConfigError) {
  {
    std::vector<std::unique_ptr<Operator>> ops;
    ops.push_back(std::make_unique<SlowSourceOp>("a"));
    ops.push_back(std::make_unique<DoublerOp>("d", "nope", "slow_source"));
    const auto what = link_error(std::move(ops));
    EXPECT_NE(what.find("test.toml:7: operators.d.source"), std::string::npos) << what;
    EXPECT_NE(what.find("no operator is named 'nope'"), std::string::npos) << what;
  }
  {
    std::vector<std::unique_ptr<Operator>> ops;
    ops.push_back(std::make_unique<SlowSourceOp>("a"));
    ops.push_back(std::make_unique<DoublerOp>("d", "a", "bragg_disks"));
    const auto what = link_error(std::move(ops));
    EXPECT_NE(what.find("'a' is a 'slow_source' operator; it needs a 'bragg_disks'"),
              std::string::npos)
        << what;
  }
  {
    std::vector<std::unique_ptr<Operator>> ops;
    ops.push_back(std::make_unique<DoublerOp>("d", "a", "slow_source"));
    ops.push_back(std::make_unique<SlowSourceOp>("a"));
    const auto what = link_error(std::move(ops));
    EXPECT_NE(what.find("'a' must come before 'd'"), std::string::npos) << what;
  }
  {
    std::vector<std::unique_ptr<Operator>> ops;
    ops.push_back(std::make_unique<DoublerOp>("d", "d", "doubler"));
    const auto what = link_error(std::move(ops));
    EXPECT_NE(what.find("'d' must come before 'd'"), std::string::npos) << what;
  }
}

// Spec: the placement runs a dependent after its inputs wrote the same batch (the source sleeps:
// run side by side, the readers would see zeros).
TEST(OperatorInputs, PlacementRunsDependentsAfterTheirInputs) {
  auto ops = chain();
  link_operator_inputs(ops);
  gpu::Placement placement(gpu::DeviceChoice{}, ops);
  SeriesHeader h;
  h.scan_rows = 1;
  h.scan_cols = 8;
  h.frame_rows = h.frame_cols = 4;
  for (auto& op : ops) op->start(h);
  placement.start(h, 8);
  FrameBatch b;
  b.series = &h;
  b.count = b.capacity = 8;
  b.index = {0, 1, 2, 3, 4, 5, 6, 7};
  b.results.resize(ops.size());
  for (auto& r : b.results) {
    r.scalars_per_frame = 1;
    r.resize(8);
  }
  placement.process(b);
  for (std::uint32_t i = 0; i < 8; ++i) {
    EXPECT_EQ(b.results[0].frame_scalars(i)[0], i + 1.0);
    EXPECT_EQ(b.results[1].frame_scalars(i)[0], 2 * (i + 1.0));
    EXPECT_EQ(b.results[2].frame_scalars(i)[0], 4 * (i + 1.0));
  }
}

// Spec: `stemflow validate` and `stemflow run` build the same plan, so an input naming an
// operator that comes later is the same ConfigError for both, naming the file, line and key.
TEST(OperatorInputs, ValidateAndRunGiveTheSameError) {
  const auto config = config::Config::parse(
      "[input]\nendpoint = \"tcp://127.0.0.1:5555\"\n"
      "[[operators]]\ntype = \"strain_map\"\nname = \"strain\"\nbragg = \"bragg\"\n"
      "g1 = [17.9, 2.6]\ng2 = [-5.1, 16.6]\n"
      "[[operators]]\ntype = \"bragg_disks\"\nname = \"bragg\"\ntemplate = \"none\"\n"
      "no_template_applies_ifft = false\n",
      "test.toml");
  std::string errors[2];
  for (int k = 0; k < 2; ++k) {
    try {
      (void)make_plan(config, k == 0 ? PlanFor::kValidate : PlanFor::kRun);
    } catch (const ConfigError& e) {
      errors[k] = e.what();
    }
  }
  EXPECT_NE(errors[0].find("test.toml:6"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("bragg"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("must come before 'strain'"), std::string::npos) << errors[0];
  EXPECT_EQ(errors[0], errors[1]);
}

// Spec: the operators' live images follow the dashboard: the plan sets the preview interval to
// outputs.dashboard.update_interval, and to 0 (no previews) without a dashboard.
TEST(OperatorInputs, PreviewIntervalIsTheDashboardsUpdateInterval) {
  const std::string base = "[input]\nendpoint = \"tcp://127.0.0.1:5555\"\n";
  EXPECT_EQ(make_plan(config::Config::parse(base, "a.toml"), PlanFor::kValidate).preview_interval_s,
            0.0);
  const auto with = config::Config::parse(
      base + "[outputs.dashboard]\nlisten = \"127.0.0.1:18080\"\nupdate_interval = 0.25\n",
      "b.toml");
  EXPECT_EQ(make_plan(with, PlanFor::kValidate).preview_interval_s, 0.25);
}
