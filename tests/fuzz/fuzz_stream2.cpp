// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: DECTRIS stream V2 messages (ingest/dectris/stream2.hpp): the CBOR decoder and
// the start / image / end decoder on one ZeroMQ message, then the image's pixels decoded as the
// receiver does, when the frame is small.
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "ingest/dectris/stream2.hpp"

namespace stream2 = stemflow::ingest::stream2;
namespace codecs = stemflow::ingest::codecs;

namespace {
constexpr std::size_t kMaxFrameBytes = std::size_t{1} << 20;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static stemflow::ingest::cbor::CborDocument doc;  // reused, as the receiver does
  const std::span<const std::uint8_t> in(data, size);
  auto m = stream2::decode(in, doc, "");
  if (!m) return 0;
  if (const auto* im = std::get_if<stream2::Image>(&*m)) {
    const std::size_t bytes = std::size_t{im->rows} * im->cols * stemflow::dtype_size(im->dtype);
    if (bytes <= kMaxFrameBytes) {
      std::vector<std::uint8_t> out(bytes);
      (void)codecs::decompress(im->codec, im->elem_size, im->data, out);
    }
  }
  return 0;
}
