// SPDX-License-Identifier: GPL-3.0-or-later
// FFTW wisdom across runs (bragg_disks fft_wisdom): the first run plans by measurement and saves
// its wisdom in the cache folder; the second loads it; "none" keeps nothing, and "estimate" plans
// never touch it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/support/process.hpp"

using namespace stemflow;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

int run(const fs::path& dir, const std::string& tag, const std::string& extra) {
  std::ofstream(dir / (tag + ".toml"))
      << "[input]\nsource = \"file\"\npath = \"" << (dir / "scan.npy").string() << "\"\n"
      << "[[operators]]\ntype = \"bragg_disks\"\nname = \"bragg\"\nvacuum = \""
      << (dir / "vacuum.npy").string() << "\"\nsubpixel = \"poly\"\n"
      << extra;
  test::Process p({STEMFLOW_EXE, "run", (dir / (tag + ".toml")).string()},
                  (dir / (tag + ".log")).string());
  return p.wait(milliseconds(120000));
}

}  // namespace

TEST(FftwWisdom, SecondRunLoadsWhatTheFirstSaved) {
  const auto dir = test::work_dir("fftw-wisdom");
  for (const auto& [out, extra] :
       {std::pair<std::string, std::string>{"scan.npy", ""}, {"vacuum.npy", "--vacuum"}}) {
    std::vector<std::string> a{STEMFLOW_SIM_EXE,
                               "synth",
                               "--scan",
                               "4x4",
                               "--frame",
                               "96x96",
                               "--out",
                               (dir / out).string()};
    if (!extra.empty()) a.push_back(extra);
    test::Process sim(a, (dir / "sim.log").string());
    ASSERT_EQ(sim.wait(milliseconds(60000)), 0);
  }
  // The engine's cache folder for this test only (ctest gives every test the build tree's).
  ::setenv("XDG_CACHE_HOME", (dir / "cache").c_str(), 1);
  const auto wisdom = dir / "cache" / "stemflow" / "fftw-wisdom";

  ASSERT_EQ(run(dir, "estimate", "fft_planner = \"estimate\"\n"), 0);
  EXPECT_FALSE(fs::exists(wisdom.string() + ".f32")) << "estimate plans saved wisdom";

  ASSERT_EQ(run(dir, "first", ""), 0);
  EXPECT_NE(test::read_text((dir / "first.log").string()).find("no FFTW wisdom at"),
            std::string::npos);
  ASSERT_TRUE(fs::exists(wisdom.string() + ".f32"));
  ASSERT_TRUE(fs::exists(wisdom.string() + ".f64"));
  EXPECT_EQ(test::read_text(wisdom.string() + ".f32").rfind("(fftw-3", 0), 0u);

  ASSERT_EQ(run(dir, "second", ""), 0);
  EXPECT_NE(test::read_text((dir / "second.log").string()).find("FFTW wisdom loaded from"),
            std::string::npos)
      << test::read_text((dir / "second.log").string());

  fs::remove_all(dir / "cache");
  ASSERT_EQ(run(dir, "none", "fft_wisdom = \"none\"\n"), 0);
  EXPECT_FALSE(fs::exists(dir / "cache"));
}
