// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: the Merlin formats (ingest/merlin/mpx.hpp): the MPX TCP prefix, the acquisition
// header (HDR ... End), and the MQ1 frame header, whose pixels (the bytes after data_offset) are
// then decoded when the input holds them and the frame is small.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ingest/merlin/mpx.hpp"

namespace merlin = stemflow::ingest::merlin;

namespace {
constexpr std::size_t kMaxFrameBytes = std::size_t{4} << 20;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);
  if (size >= merlin::kMpxPrefixBytes) {
    (void)merlin::parse_mpx_prefix(in.first(merlin::kMpxPrefixBytes));
  }
  (void)merlin::parse_acquisition_header(in);
  auto h = merlin::parse_frame_header(in);
  if (!h) return 0;
  if (h->data_offset > size || h->pixel_bytes > size - h->data_offset) return 0;
  if (h->frame_bytes() > kMaxFrameBytes) return 0;
  std::vector<std::uint8_t> out(h->frame_bytes());
  (void)merlin::decode_pixels(*h, in.subspan(h->data_offset, h->pixel_bytes), out);
  return 0;
}
