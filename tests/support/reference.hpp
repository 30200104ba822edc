// SPDX-License-Identifier: GPL-3.0-or-later
// Test support: the ../shared reference datasets and their meta.json (with test_data.hpp: raw
// arrays and batches over frames held in test memory).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/test_data.hpp"

namespace stemflow::test {

//! The reference dataset folders present (py4dstem-ref-*), empty when ../shared is absent.
inline std::vector<std::filesystem::path> reference_datasets() {
  std::vector<std::filesystem::path> out;
  const auto root = shared_dir() / "reference";
  if (!std::filesystem::is_directory(root)) return out;
  for (const auto& e : std::filesystem::directory_iterator(root)) {
    if (e.is_directory() && std::filesystem::exists(e.path() / "meta.json"))
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

#define STEMFLOW_REQUIRE_REFERENCE(datasets)                                               \
  if ((datasets).empty())                                                                  \
  GTEST_SKIP() << "shared reference data not found under " << stemflow::test::shared_dir() \
               << "/reference (set STEMFLOW_SHARED_DIR); skipping the py4DSTEM comparison"

inline nlohmann::json read_meta(const std::filesystem::path& dataset) {
  std::ifstream in(dataset / "meta.json");
  return nlohmann::json::parse(in);
}

}  // namespace stemflow::test
