// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: Merlin .mib files (ingest/merlin/mib_file.hpp `MibFileReader`): the input is
// written to a file, opened (the first MQ1 header sets the frame layout and the frame count), and
// its first and last frames are read when a frame is at most 4 MiB.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ingest/merlin/mib_file.hpp"
#include "tests/fuzz/fuzz_file.hpp"

using namespace stemflow;

namespace {
constexpr std::size_t kMaxFrameBytes = std::size_t{4} << 20;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& path = fuzz::write_input(data, size, ".mib");
  (void)ingest::MibFileReader::probe(path);
  try {
    ingest::MibFileReader reader(path);
    const auto& info = reader.info();
    if (info.frames > 0 && info.frame_bytes() <= kMaxFrameBytes) {
      std::vector<std::uint8_t> frame(info.frame_bytes());
      (void)reader.read_frame(0, frame);
      (void)reader.read_frame(info.frames - 1, frame);
    }
    (void)ingest::describe(info);
  } catch (const ConfigError&) {
  }
  return 0;
}
