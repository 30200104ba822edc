// SPDX-License-Identifier: GPL-3.0-or-later
// Hostile input at the command line: configurations whose values make no sense are refused by both
// `stemflow validate` and `stemflow run` with exit code 2 and a message naming the key, before any
// socket is opened or any series is waited for.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/process.hpp"

namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

const std::string kInput = "[input]\nendpoint = \"tcp://127.0.0.1:5555\"\n";

struct Case {
  std::string tag;
  std::string toml;
  std::vector<std::string> overrides;  // --set key=value
  std::string key;                     // what the error message must name
};

}  // namespace

// Spec: each bad configuration exits 2 from validate and from run, naming the key (and, for values
// in the file, the file and line): validate and run never disagree on these.
TEST(BadConfiguration, ValidateAndRunExitWithTwoNamingTheKey) {
  const auto dir = stemflow::test::work_dir("bad-configuration");
  const std::vector<Case> cases = {
      {"empty", "", {}, "required key 'input.endpoint' (or 'input.endpoints') is missing"},
      {"file-without-path", "[input]\nsource = \"file\"\n", {}, "input.path"},
      {"series-timeout-zero",
       kInput + "series_timeout = 0\n",
       {},
       "config.toml:3: key 'input.series_timeout'"},
      {"series-timeout-negative",
       kInput + "series_timeout = -1\n",
       {},
       "key 'input.series_timeout' is -1, must be > 0"},
      {"memory-limit-1KiB",
       kInput + "[pipeline]\nmemory_limit = \"1KiB\"\n",
       {},
       "config.toml:4: key 'pipeline.memory_limit'"},
      {"receive-hwm-negative",
       kInput + "receive_hwm = -1\n",
       {},
       "config.toml:3: key 'input.receive_hwm'"},
      {"batch-frames-set-zero",
       kInput,
       {"pipeline.batch_frames=0"},
       "--set: key 'pipeline.batch_frames' is 0"},
      {"metrics-port-zero",
       kInput + "[outputs.metrics]\nlisten = \"127.0.0.1:0\"\n",
       {},
       "config.toml:4: key 'outputs.metrics.listen'"},
      {"radius-zero",
       kInput + "[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\ndetector = \"circle\"\n"
                "center = [8.0, 8.0]\nradius = 0\n",
       {},
       "config.toml:8: key 'operators.bf.radius'"},
      // Errors found when the plan is built (sources, operators, the replayed file), not by the
      // schema: `validate` builds the same plan as `run`, so it refuses them too.
      {"merlin-two-endpoints",
       "[input]\nprotocol = \"merlin\"\nendpoints = [\"tcp://127.0.0.1:6342\", "
       "\"tcp://127.0.0.1:6343\"]\n",
       {},
       "merlin reads one detector data port"},
      {"replay-missing-file",
       "[input]\nsource = \"file\"\npath = \"no-such-file.npy\"\n",
       {},
       "no-such-file.npy"},
      {"circle-without-radius",
       kInput + "[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\n"
                "detector = \"circle\"\ncenter = [8.0, 8.0]\n",
       {},
       "needs 'radius'"},
      {"mask-file-missing",
       kInput + "[[operators]]\ntype = \"virtual_image\"\nname = \"m\"\n"
                "detector = \"mask\"\nmask = \"no-such-mask.npy\"\n",
       {},
       "operators.m.mask"},
      {"bragg-without-probe",
       kInput + "[[operators]]\ntype = \"bragg_disks\"\nname = \"bragg\"\n",
       {},
       "needs exactly one probe source"},
      {"scan-shape-zero", kInput + "[scan]\nshape = [0, 4]\n", {}, "scan.shape"},
  };
  for (const auto& c : cases) {
    const auto sub = dir / c.tag;
    fs::create_directories(sub);
    const auto path = sub / "config.toml";
    std::ofstream(path) << c.toml;
    for (const std::string command : {"validate", "run"}) {
      SCOPED_TRACE(c.tag + " " + command);
      std::vector<std::string> argv = {STEMFLOW_EXE, command, path.string()};
      if (command == "run") {
        argv.push_back("--series");
        argv.push_back("1");
      }
      for (const auto& o : c.overrides) {
        argv.push_back("--set");
        argv.push_back(o);
      }
      const auto log = sub / (command + ".log");
      stemflow::test::Process p(argv, log.string());
      EXPECT_EQ(p.wait(milliseconds(15000)), 2);
      const auto text = stemflow::test::read_text(log.string());
      EXPECT_NE(text.find(c.key), std::string::npos) << text;
    }
  }
}
