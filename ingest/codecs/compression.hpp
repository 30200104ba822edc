// SPDX-License-Identifier: GPL-3.0-or-later
// The compressed pixel formats of DECTRIS detectors and files (docs/protocols.md section
// 2): bitshuffle + LZ4 ("bslz4", HDF5 filter 32008) and LZ4 in HDF5 framing (filter 32004, stream
// V2 "lz4"), both with the 12-byte header (uint64 BE size, uint32 BE block bytes), and the raw LZ4
// block of stream V1 "lz4<". Decoders write straight into the caller's frame buffer and check every
// length against it: a corrupt stream is an error, never a shifted or partly written frame that
// passes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "ingest/codecs/md5.hpp"
#include "pipeline/core/expected.hpp"

namespace stemflow::ingest::codecs {

enum class Codec : std::uint8_t {
  kNone,      // pixels as they are (copied)
  kBslz4,     // bitshuffle + LZ4, HDF5 framing
  kLz4Hdf5,   // LZ4 blocks, HDF5 framing (a block whose length equals its size is stored raw)
  kLz4Block,  // one raw LZ4 block, no framing (stream V1 "lz4<")
};

std::string_view codec_name(Codec c);

//! bshuf_default_block_size: 8 KiB of elements, a multiple of 8, at least 128 elements.
std::size_t bslz4_default_block_elems(std::size_t elem_size);

//! The 12-byte header of both HDF5-framed formats.
struct FramedHeader {
  std::uint64_t orig_size = 0;
  std::uint32_t block_bytes = 0;
};
//! Error code "decode_error" when fewer than 12 bytes are given.
Expected<FramedHeader> read_framed_header(std::span<const std::uint8_t> in);

//! Each decoder fills exactly out.size() bytes or returns an error with code "decode_error" (the
//! stream is corrupt or truncated, or announces another size than `out`). `elem_size` is the pixel
//! size in bytes (bslz4 needs it; the others ignore it).
Expected<void> bslz4_decompress(std::span<const std::uint8_t> in,
                                std::span<std::uint8_t> out,
                                std::size_t elem_size);
Expected<void> lz4_hdf5_decompress(std::span<const std::uint8_t> in, std::span<std::uint8_t> out);
Expected<void> lz4_block_decompress(std::span<const std::uint8_t> in, std::span<std::uint8_t> out);
Expected<void> decompress(Codec codec,
                          std::size_t elem_size,
                          std::span<const std::uint8_t> in,
                          std::span<std::uint8_t> out);

//! Encoders (the simulator, tests). `out` is overwritten; its capacity is reused across calls.
//! block_elems = 0: the default block size, as DECTRIS writes.
void bslz4_compress(std::span<const std::uint8_t> in,
                    std::size_t elem_size,
                    std::vector<std::uint8_t>& out,
                    std::size_t block_elems = 0);
//! block_bytes = 0: one block for the whole input (what the HDF5 LZ4 filter does for a frame).
void lz4_hdf5_compress(std::span<const std::uint8_t> in,
                       std::vector<std::uint8_t>& out,
                       std::size_t block_bytes = 0);
void lz4_block_compress(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out);
void compress(Codec codec,
              std::size_t elem_size,
              std::span<const std::uint8_t> in,
              std::vector<std::uint8_t>& out);

//! One frame to decode: from `src` into `dst` (exactly the frame's bytes).
struct DecodeJob {
  Codec codec = Codec::kNone;
  std::uint32_t elem_size = 1;
  std::span<const std::uint8_t> src;
  std::span<std::uint8_t> dst;
  //! When set, `src` must have this MD5 (checked before decoding, in the same task).
  std::optional<Md5Digest> md5;
  //! Set by decode_frames when the frame could not be decoded (code "decode_error") or `src` does
  //! not have the MD5 it should (code "hash_mismatch"; `dst` is then left unwritten).
  std::optional<Error> error;
};

//! Checks and decodes every job, in parallel over the jobs (oneTBB); a failing job sets its `error`
//! and leaves the others alone. Never throws for bad data.
void decode_frames(std::span<DecodeJob> jobs);

}  // namespace stemflow::ingest::codecs
