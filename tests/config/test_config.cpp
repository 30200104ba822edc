// SPDX-License-Identifier: GPL-3.0-or-later
// Spec: one schema; unknown keys and wrong types are errors naming the key and the line; defaults and
// --set overrides resolve as documented.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config.hpp"
#include "pipeline/expected.hpp"

using stemflow::ConfigError;
using stemflow::config::Config;

namespace {
std::string error_of(std::string_view text, const std::vector<std::string>& overrides = {}) {
  try {
    Config::parse(text, "test.toml", overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Config, DefaultsComeFromTheSchema) {
  auto c = Config::parse("[input]\nendpoint = \"tcp://127.0.0.1:1\"\n", "t.toml");
  EXPECT_EQ(c.section("pipeline").get_int("batch_frames"), 64);
  EXPECT_EQ(c.section("pipeline").get_size("memory_limit"), 256u << 20);
  EXPECT_EQ(c.section("input").get_string("protocol"), "native");
  EXPECT_EQ(c.section("input").get_strings("endpoint"), std::vector<std::string>{"tcp://127.0.0.1:1"});
  EXPECT_FALSE(c.section("scan").has("shape"));
  EXPECT_FALSE(c.has_section("outputs.hdf5"));
}

TEST(Config, UnknownKeyNamesKeyAndLine) {
  const auto e = error_of("[input]\nsource = \"zmq\"\nendpont = \"tcp://x:1\"\n");
  EXPECT_NE(e.find("test.toml:3"), std::string::npos) << e;
  EXPECT_NE(e.find("input.endpont"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'endpoint'"), std::string::npos) << e;
}

TEST(Config, WrongTypeNamesKeyAndLine) {
  const auto e = error_of("[pipeline]\n\nbatch_frames = \"many\"\n");
  EXPECT_NE(e.find("test.toml:3"), std::string::npos) << e;
  EXPECT_NE(e.find("pipeline.batch_frames"), std::string::npos) << e;
  EXPECT_NE(e.find("integer"), std::string::npos) << e;
}

TEST(Config, ReportsEveryProblemAtOnce) {
  const auto e = error_of(
      "[pipeline]\ndevice = \"tpu\"\nmemory_limit = \"lots\"\n[[operators]]\ntype = \"virtual_imag\"\n"
      "[[operators]]\ntype = \"virtual_image\"\ndetector = \"circle\"\nradius = \"big\"\n");
  EXPECT_NE(e.find("4 problems"), std::string::npos) << e;
  EXPECT_NE(e.find("pipeline.device"), std::string::npos) << e;
  EXPECT_NE(e.find("pipeline.memory_limit"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'virtual_image'"), std::string::npos) << e;
  EXPECT_NE(e.find("test.toml:9: key 'operators.virtual_image.radius'"), std::string::npos) << e;
}

TEST(Config, OperatorsHaveUniqueNames) {
  const auto e = error_of(
      "[[operators]]\ntype = \"center_of_mass\"\n[[operators]]\ntype = \"center_of_mass\"\n");
  EXPECT_NE(e.find("used twice"), std::string::npos) << e;
}

TEST(Config, RequiredOperatorKey) {
  const auto e = error_of("[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\n");
  EXPECT_NE(e.find("operators.bf.detector"), std::string::npos) << e;
  EXPECT_NE(e.find("missing"), std::string::npos) << e;
}

TEST(Config, OverridesApplyAndAreValidated) {
  auto c = Config::parse(
      "[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\ndetector = \"circle\"\n"
      "center = [64.0, 64.0]\nradius = 5\n",
      "t.toml", {"pipeline.batch_frames=16", "operators.bf.radius=7.5", "outputs.hdf5.path=x/y.h5"});
  EXPECT_EQ(c.section("pipeline").get_int("batch_frames"), 16);
  EXPECT_DOUBLE_EQ(c.operators()[0].params.get_double("radius"), 7.5);
  EXPECT_TRUE(c.has_section("outputs.hdf5"));
  EXPECT_EQ(c.section("outputs.hdf5").get_string("path"), "x/y.h5");
  const auto e = error_of("", {"pipeline.batch_frame=3"});
  EXPECT_NE(e.find("--set: unknown key 'pipeline.batch_frame'"), std::string::npos) << e;
  EXPECT_NE(error_of("", {"operators.nope.radius=1"}).find("no operator named 'nope'"),
            std::string::npos);
}

TEST(Config, ParseErrorsCarryTheLine) {
  const auto e = error_of("[input]\nsource = \n");
  EXPECT_NE(e.find("test.toml:2"), std::string::npos) << e;
}

TEST(Config, SizesWithUnits) {
  using stemflow::config::parse_size;
  EXPECT_EQ(parse_size("256MiB"), 256u << 20);
  EXPECT_EQ(parse_size("2GB"), 2000000000u);
  EXPECT_EQ(parse_size("4096"), 4096u);
  EXPECT_EQ(parse_size("1.5 KiB"), 1536u);
  EXPECT_FALSE(parse_size("12 parsecs"));
  EXPECT_FALSE(parse_size("-1MiB"));
}

TEST(Config, ExampleConfigsAreValid) {
  const std::filesystem::path dir = std::filesystem::path(STEMFLOW_SOURCE_DIR) / "config/examples";
  int n = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.path().extension() != ".toml") continue;
    EXPECT_NO_THROW(Config::load(f.path().string())) << f.path();
    ++n;
  }
  EXPECT_GT(n, 0);
}

TEST(Config, SchemaDocumentsEveryKey) {
  const auto md = stemflow::config::schema_markdown();
  for (const auto& s : stemflow::config::sections()) {
    for (const auto& k : s.keys) EXPECT_NE(md.find("`" + std::string(k.name) + "`"), std::string::npos);
  }
}

// Spec: the committed reference (config/REFERENCE.md) is what the schema prints, so docs cannot drift.
TEST(Config, CommittedReferenceIsCurrent) {
  std::ifstream in(std::filesystem::path(STEMFLOW_SOURCE_DIR) / "config/REFERENCE.md");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), stemflow::config::schema_markdown())
      << "regenerate with: build/pipeline/stemflow schema > config/REFERENCE.md";
}
