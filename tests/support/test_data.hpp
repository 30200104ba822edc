// SPDX-License-Identifier: GPL-3.0-or-later
// Test support with no dependency beyond the pipeline's types (the GPU tests, which run on a
// machine with nothing but CUDA, use it too): where ../shared is, reading raw arrays, and batches
// over frames held in test memory.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "pipeline/core/batch.hpp"
#include "pipeline/core/operator.hpp"

namespace stemflow::test {

//! ../shared (STEMFLOW_SHARED_DIR at build time), or the STEMFLOW_SHARED_DIR environment variable.
inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("STEMFLOW_SHARED_DIR")) return env;
  return STEMFLOW_SHARED_DIR;
}

//! A whole file of T in native byte order; throws if it cannot be opened.
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

//! A batch over frames owned by the test (no pool): frames [first, first + count) of `pixels`,
//! with a result area for each operator.
struct TestBatch {
  SeriesHeader series;
  FrameBatch batch;

  TestBatch(const SeriesHeader& h,
            const void* pixels,
            std::uint64_t first,
            std::uint32_t count,
            const std::vector<const Operator*>& ops) {
    series = h;
    batch.series = &series;
    batch.count = batch.capacity = count;
    batch.frame_bytes = h.frame_bytes();
    batch.pixels =
        const_cast<std::byte*>(static_cast<const std::byte*>(pixels)) + first * h.frame_bytes();
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
