// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: DECTRIS stream V1 multipart messages (ingest/dectris/stream1.hpp): the JSON
// parts of the global header, image and end messages. The input is cut into parts at each
// "\xff\xfe" (bytes that valid JSON never holds); an image's blob is then decoded as the receiver
// does.
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "ingest/dectris/stream1.hpp"

namespace stream1 = stemflow::ingest::stream1;
namespace codecs = stemflow::ingest::codecs;

namespace {
constexpr std::size_t kMaxFrameBytes = std::size_t{1} << 20;
constexpr std::size_t kMaxParts = 8;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::span<const std::uint8_t>> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i + 1 < size && parts.size() + 1 < kMaxParts; ++i) {
    if (data[i] == 0xff && data[i + 1] == 0xfe) {
      parts.emplace_back(data + start, i - start);
      start = i + 2;
      ++i;
    }
  }
  parts.emplace_back(data + start, size - start);
  auto m = stream1::decode(parts);
  if (!m) return 0;
  if (const auto* im = std::get_if<stream1::Image>(&*m)) {
    const std::size_t bytes = std::size_t{im->x} * im->y * stemflow::dtype_size(im->dtype);
    if (bytes <= kMaxFrameBytes) {
      std::vector<std::uint8_t> out(bytes);
      (void)codecs::decompress(im->codec, im->elem_size, im->data, out);
    }
  }
  return 0;
}
