// SPDX-License-Identifier: GPL-3.0-or-later
// Test support: locating ../shared reference data, reading raw arrays, and building batches over
// frames held in test memory.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/batch.hpp"
#include "pipeline/operator.hpp"

namespace stemflow::test {

inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("STEMFLOW_SHARED_DIR")) return env;
  return STEMFLOW_SHARED_DIR;
}

//! The reference dataset folders present (py4dstem-ref-*), empty when ../shared is absent.
inline std::vector<std::filesystem::path> reference_datasets() {
  std::vector<std::filesystem::path> out;
  const auto root = shared_dir() / "reference";
  if (!std::filesystem::is_directory(root)) return out;
  for (const auto& e : std::filesystem::directory_iterator(root)) {
    if (e.is_directory() && std::filesystem::exists(e.path() / "meta.json")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

#define STEMFLOW_REQUIRE_REFERENCE(datasets)                                                  \
  if ((datasets).empty())                                                                     \
  GTEST_SKIP() << "shared reference data not found under " << stemflow::test::shared_dir()   \
               << "/reference (set STEMFLOW_SHARED_DIR); skipping the py4DSTEM comparison"

template <class T>
std::vector<T> read_raw(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  in.seekg(0, std::ios::end);
  const auto bytes = static_cast<std::size_t>(in.tellg());
  in.seekg(0);
  std::vector<T> v(bytes / sizeof(T));
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
  return v;
}

inline nlohmann::json read_meta(const std::filesystem::path& dataset) {
  std::ifstream in(dataset / "meta.json");
  return nlohmann::json::parse(in);
}

//! A batch over frames owned by the test (no pool): frames [first, first + count) of `pixels`.
struct TestBatch {
  SeriesHeader series;
  FrameBatch batch;

  TestBatch(const SeriesHeader& h, const void* pixels, std::uint64_t first, std::uint32_t count,
            const std::vector<const Operator*>& ops) {
    series = h;
    batch.series = &series;
    batch.count = batch.capacity = count;
    batch.frame_bytes = h.frame_bytes();
    batch.pixels = const_cast<std::byte*>(static_cast<const std::byte*>(pixels)) + first * h.frame_bytes();
    for (std::uint32_t i = 0; i < count; ++i) batch.index.push_back(first + i);
    for (const Operator* op : ops) {
      const auto spec = op->outputs();
      OperatorResults r;
      r.scalars_per_frame = static_cast<std::uint32_t>(spec.scalars.size());
      r.max_peaks = spec.max_peaks;
      r.resize(count);
      batch.results.push_back(std::move(r));
    }
  }
};

}  // namespace stemflow::test
