// SPDX-License-Identifier: GPL-3.0-or-later
// Spec: one schema; unknown keys and wrong types are errors naming the key and the line; defaults
// and
// --set overrides resolve as documented.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "config/config.hpp"
#include "pipeline/core/expected.hpp"

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
  EXPECT_EQ(c.section("input").get_strings("endpoint"),
            std::vector<std::string>{"tcp://127.0.0.1:1"});
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
      "[pipeline]\ndevice = \"tpu\"\nmemory_limit = \"lots\"\n[[operators]]\ntype = "
      "\"virtual_imag\"\n"
      "[[operators]]\ntype = \"virtual_image\"\ndetector = \"circle\"\nradius = \"big\"\n"
      "[input]\nendpoint = \"tcp://127.0.0.1:1\"\n");
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
      "[input]\nendpoint = \"tcp://127.0.0.1:1\"\n"
      "[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\ndetector = \"circle\"\n"
      "center = [64.0, 64.0]\nradius = 5\n",
      "t.toml",
      {"pipeline.batch_frames=16", "operators.bf.radius=7.5", "outputs.hdf5.path=x/y.h5"});
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

// Spec: every numeric key states its valid values in the schema, and the loader checks them for
// every key, naming the file, the line and the key. A new numeric key without a range fails here.
TEST(Config, EveryNumericKeyDeclaresARange) {
  using stemflow::config::KeyType;
  // Coordinates may be anywhere (a centre off the frame is allowed); they only need to be finite.
  const std::set<std::string_view> any_finite = {"center", "kernel_origin"};
  auto check = [&](const stemflow::config::SectionSpec& s) {
    for (const auto& k : s.keys) {
      const bool numeric = k.type == KeyType::kInt || k.type == KeyType::kFloat ||
                           k.type == KeyType::kSize || k.type == KeyType::kIntArray ||
                           k.type == KeyType::kFloatArray;
      if (!numeric || any_finite.count(k.name)) continue;
      EXPECT_TRUE(k.range.bounded()) << s.name << "." << k.name << " declares no range";
    }
  };
  for (const auto& s : stemflow::config::sections()) check(s);
  for (const auto& s : stemflow::config::operator_types()) check(s);
}

TEST(Config, ValuesOutsideTheirRangeNameFileLineAndKey) {
  const std::string in = "[input]\nendpoint = \"tcp://127.0.0.1:5555\"\n";
  struct Case {
    std::string text, where, message;
  };
  const std::vector<Case> cases = {
      {in + "series_timeout = 0\n", "test.toml:3: key 'input.series_timeout'", "must be > 0"},
      {in + "series_timeout = -1\n", "test.toml:3: key 'input.series_timeout'", "must be > 0"},
      {in + "receive_hwm = -1\n", "test.toml:3: key 'input.receive_hwm'", "must be 1 to"},
      {in + "io_threads = 0\n", "test.toml:3: key 'input.io_threads'", "must be 1 to 256"},
      {in + "rate = -5.0\n", "test.toml:3: key 'input.rate'", "must be >= 0"},
      {in + "rate = nan\n", "test.toml:3: key 'input.rate'", "finite"},
      {in + "frame_shape = [128, 0]\n", "test.toml:3: key 'input.frame_shape' element 2", "is 0"},
      {in + "[pipeline]\nmemory_limit = \"1KiB\"\n",
       "test.toml:4: key 'pipeline.memory_limit'",
       "must be >= 1MiB"},
      {in + "[pipeline]\nmemory_limit = 1000\n",
       "test.toml:4: key 'pipeline.memory_limit'",
       "must be >= 1MiB"},
      {in + "[pipeline]\nbatch_frames = 0\n",
       "test.toml:4: key 'pipeline.batch_frames'",
       "must be 1 to"},
      {in + "[pipeline]\nbatch_timeout = 0.0\n",
       "test.toml:4: key 'pipeline.batch_timeout'",
       "must be > 0"},
      {in + "[scan]\nshape = [0, 4]\n", "test.toml:4: key 'scan.shape' element 1", "is 0"},
      {in + "[outputs.metrics]\nlisten = \"127.0.0.1:0\"\n",
       "test.toml:4: key 'outputs.metrics.listen'",
       "port from 1 to 65535"},
      {in + "[outputs.dashboard]\nlisten = \"localhost:70000\"\n",
       "test.toml:4: key 'outputs.dashboard.listen'",
       "port from 1 to 65535"},
      {in + "[outputs.dashboard]\nmax_clients = 0\n",
       "test.toml:4: key 'outputs.dashboard.max_clients'",
       "must be 1 to 1024"},
      {in + "[outputs.hdf5]\nflush_interval = -1\n",
       "test.toml:4: key 'outputs.hdf5.flush_interval'",
       "must be > 0"},
      {"[input]\nendpoint = \"tcp://127.0.0.1:0\"\n",
       "test.toml:2: key 'input.endpoint'",
       "port from 1 to 65535"},
      {"[input]\nendpoint = \"127.0.0.1:5555\"\n",
       "test.toml:2: key 'input.endpoint'",
       "transport://address"},
      {"[input]\nendpoints = []\n", "test.toml:2: key 'input.endpoints'", "is empty"},
      {in + "[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\ndetector = \"circle\"\n"
            "center = [1.0, 1.0]\nradius = -2\n",
       "test.toml:8: key 'operators.bf.radius'",
       "must be > 0"},
      {in + "[[operators]]\ntype = \"bragg_disks\"\ntemplate = \"none\"\nupsample_factor = 2\n",
       "test.toml:6: key 'operators.bragg_disks.upsample_factor'",
       "must be 3 to 1024"},
      {in + "[[operators]]\ntype = \"bragg_disks\"\ntemplate = \"none\"\nprobe_threshold = 1\n",
       "test.toml:6: key 'operators.bragg_disks.probe_threshold'",
       "must be >= 0, < 1"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const auto e = error_of(c.text);
    EXPECT_NE(e.find("1 problem)"), std::string::npos) << e;
    EXPECT_NE(e.find(c.where), std::string::npos) << e;
    EXPECT_NE(e.find(c.message), std::string::npos) << e;
  }
  // The edges of a range are valid.
  EXPECT_NO_THROW(Config::parse(in + "receive_hwm = 1\nrate = 0\n[pipeline]\nmemory_limit = "
                                     "\"1MiB\"\nthreads = 0\n",
                                "t.toml"));
}

// Spec: --set values are checked like the file's.
TEST(Config, OverriddenValuesAreCheckedToo) {
  const std::string in = "[input]\nendpoint = \"tcp://127.0.0.1:5555\"\n";
  const auto e = error_of(in, {"pipeline.batch_frames=0"});
  EXPECT_NE(e.find("--set: key 'pipeline.batch_frames' is 0, must be 1 to"), std::string::npos)
      << e;
  EXPECT_NE(error_of(in, {"input.series_timeout=-1"}).find("input.series_timeout"),
            std::string::npos);
}

// Spec: a configuration without an input has nothing to do and is an error saying what is missing.
TEST(Config, AnInputIsRequired) {
  auto e = error_of("");
  EXPECT_NE(e.find("test.toml: required key 'input.endpoint' (or 'input.endpoints') is missing"),
            std::string::npos)
      << e;
  e = error_of("[pipeline]\nbatch_frames = 8\n[input]\nprotocol = \"merlin\"\n");
  EXPECT_NE(e.find("test.toml:3: required key 'input.endpoint'"), std::string::npos) << e;
  e = error_of("[input]\nsource = \"file\"\n");
  EXPECT_NE(e.find("test.toml:1: required key 'input.path' is missing"), std::string::npos) << e;
  EXPECT_NO_THROW(Config::parse("[input]\nsource = \"file\"\npath = \"x.npy\"\n", "t.toml"));
  EXPECT_NO_THROW(
      Config::parse("[input]\nendpoints = [\"tcp://*:5555\", \"ipc:///tmp/s\"]\n", "t.toml"));
}

// Spec: the cross-key rules are declared in the schema (and listed in the reference): endpoint and
// endpoints together are one too many.
TEST(Config, CrossKeyRulesComeFromTheSchema) {
  const auto e =
      error_of("[input]\nendpoint = \"tcp://127.0.0.1:1\"\nendpoints = [\"tcp://127.0.0.1:2\"]\n");
  EXPECT_NE(e.find("test.toml:1: give either input.endpoint or input.endpoints, not both"),
            std::string::npos)
      << e;
  const stemflow::config::SectionSpec* input = nullptr;
  for (const auto& s : stemflow::config::sections()) {
    if (s.name == "input") input = &s;
  }
  ASSERT_NE(input, nullptr);
  EXPECT_EQ(input->rules.size(), 3u);
  EXPECT_NE(stemflow::config::schema_markdown().find("At most one of `endpoint`, `endpoints`."),
            std::string::npos);
}

TEST(Config, ReferenceShowsTheRanges) {
  const auto md = stemflow::config::schema_markdown();
  EXPECT_NE(md.find("| `memory_limit` | size | `\"256MiB\"` | bytes | >= 1MiB |"),
            std::string::npos);
  EXPECT_NE(md.find("| `series_timeout` | number | `10.0` | s | > 0 |"), std::string::npos);
  EXPECT_NE(md.find("| `batch_frames` | integer | `64` | frames | 1 to 1048576 |"),
            std::string::npos);
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
    for (const auto& k : s.keys)
      EXPECT_NE(md.find("`" + std::string(k.name) + "`"), std::string::npos);
  }
}

// Spec: the committed reference (config/REFERENCE.md) is what the schema prints, so docs cannot
// drift.
TEST(Config, CommittedReferenceIsCurrent) {
  std::ifstream in(std::filesystem::path(STEMFLOW_SOURCE_DIR) / "config/REFERENCE.md");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), stemflow::config::schema_markdown())
      << "regenerate with: build/pipeline/stemflow schema > config/REFERENCE.md";
}
