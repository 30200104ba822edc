// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: the .npy header parser (ingest/npy.hpp `parse_npy_header`, with the input's
// size as the file size), then the same bytes as a file through `read_npy_header`,
// `load_npy_as_f64` (masks and templates) and the replay reader (`open_frame_reader(.., "npy")`,
// its first frame read when it is at most 1 MiB).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ingest/npy.hpp"
#include "ingest/replay/frame_reader.hpp"
#include "tests/fuzz/fuzz_file.hpp"

using namespace stemflow;

namespace {
constexpr std::size_t kMaxFrameBytes = std::size_t{1} << 20;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  (void)ingest::parse_npy_header(in, size);
  (void)ingest::parse_npy_header(in);
  const auto& path = fuzz::write_input(data, size, ".npy");
  (void)ingest::read_npy_header(path);
  (void)ingest::load_npy_as_f64(path);
  try {
    auto reader = ingest::open_frame_reader(path, "npy");
    const auto& info = reader->info();
    if (info.frames > 0 && info.frame_bytes() <= kMaxFrameBytes) {
      std::vector<std::uint8_t> frame(info.frame_bytes());
      (void)reader->read_frame(0, frame);
      (void)reader->read_frame(info.frames - 1, frame);
    }
    (void)ingest::describe(info);
  } catch (const ConfigError&) {
  }
  return 0;
}
