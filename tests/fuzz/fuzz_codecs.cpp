// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: the DECTRIS pixel decoders of ingest/codecs/compression.hpp (bslz4, LZ4 in HDF5
// framing, raw LZ4 block). Byte 0 picks the codec and the element size; the rest is the stream.
// The output size is the stream's own 12-byte header size when that is small (so the fuzzer gets
// past the size check), else a size taken from the input, both at most kMaxOut.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ingest/codecs/compression.hpp"

namespace codecs = stemflow::ingest::codecs;

namespace {
constexpr std::size_t kMaxOut = std::size_t{1} << 20;
constexpr std::size_t kElemSizes[] = {1, 2, 4, 3};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t sel = data[0];
  const std::span<const std::uint8_t> in(data + 1, size - 1);
  const std::size_t es = kElemSizes[(sel >> 2) & 3];
  std::size_t out_bytes = in.size() * 4 % kMaxOut;
  if (auto h = codecs::read_framed_header(in); h && h->orig_size <= kMaxOut) {
    out_bytes = static_cast<std::size_t>(h->orig_size);
  }
  std::vector<std::uint8_t> out(out_bytes);
  switch (sel & 3) {
    case 0:
      (void)codecs::bslz4_decompress(in, out, es);
      break;
    case 1:
      (void)codecs::lz4_hdf5_decompress(in, out);
      break;
    case 2:
      (void)codecs::lz4_block_decompress(in, out);
      break;
    case 3:
      (void)codecs::decompress(codecs::Codec::kNone, es, in, out);
      break;
  }
  return 0;
}
