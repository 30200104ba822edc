// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: part 1 of a native wire message (ingest/native/wire.hpp), the FlatBuffers
// verification and decoding of series start, frame header and end.
#include <cstddef>
#include <cstdint>
#include <span>

#include "ingest/native/wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)stemflow::ingest::wire::decode(std::span<const std::uint8_t>(data, size));
  return 0;
}
