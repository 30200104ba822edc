// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/codecs/compression.hpp"

#include <lz4.h>
#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "ingest/codecs/bitshuffle.hpp"

namespace stemflow::ingest::codecs {

namespace {

constexpr std::size_t kHeaderBytes = 12;
// The HDF5 LZ4 filter's default block: larger inputs are cut into blocks of this size.
constexpr std::size_t kLz4FilterMaxBlock = std::size_t{1} << 30;

std::uint64_t read_be64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
std::uint32_t read_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
void write_be64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}
void write_be32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}

tl::unexpected<Error> fail(std::string message) {
  return make_drop(DropReason::kDecodeError, std::move(message));
}

// Per-thread scratch for one decompressed (still shuffled) block; it grows to the largest block
// seen, so the steady state allocates nothing.
std::vector<std::uint8_t>& scratch(std::size_t bytes) {
  thread_local std::vector<std::uint8_t> buf;
  if (buf.size() < bytes) buf.resize(bytes);
  return buf;
}

}  // namespace

std::string_view codec_name(Codec c) {
  switch (c) {
    case Codec::kNone:
      return "none";
    case Codec::kBslz4:
      return "bslz4";
    case Codec::kLz4Hdf5:
      return "lz4";
    case Codec::kLz4Block:
      return "lz4-block";
  }
  return "?";
}

std::size_t bslz4_default_block_elems(std::size_t elem_size) {
  constexpr std::size_t kTargetBytes = 8192;
  constexpr std::size_t kMinElems = 128;
  return std::max(kTargetBytes / elem_size / 8 * 8, kMinElems);
}

Expected<FramedHeader> read_framed_header(std::span<const std::uint8_t> in) {
  if (in.size() < kHeaderBytes) {
    return fail("compressed stream of " + std::to_string(in.size()) +
                " bytes is shorter than its 12-byte header");
  }
  return FramedHeader{read_be64(in.data()), read_be32(in.data() + 8)};
}

Expected<void> bslz4_decompress(std::span<const std::uint8_t> in,
                                std::span<std::uint8_t> out,
                                std::size_t es) {
  auto h = read_framed_header(in);
  if (!h) return tl::unexpected(h.error());
  if (h->orig_size != out.size()) {
    return fail("bslz4 stream holds " + std::to_string(h->orig_size) + " bytes, the frame has " +
                std::to_string(out.size()));
  }
  if (es == 0 || out.size() % es != 0) return fail("bslz4: size is not a whole number of elements");
  if (h->block_bytes % es != 0) return fail("bslz4: block size is not a whole number of elements");
  const std::size_t block =
      h->block_bytes == 0 ? bslz4_default_block_elems(es) : h->block_bytes / es;
  if (block == 0 || block % 8 != 0)
    return fail("bslz4: block size is not a multiple of 8 elements");

  const std::size_t n = out.size() / es;
  const std::size_t full = n / block;
  const std::size_t last = (n % block) - (n % block) % 8;
  const std::size_t leftover = (n % 8) * es;
  // Blocks are never larger than the frame, whatever the header says.
  auto& tmp = scratch(std::min(block, n - n % 8) * es);
  std::size_t pos = kHeaderBytes;
  std::size_t off = 0;
  const auto one_block = [&](std::size_t m) -> Expected<void> {
    const std::size_t bytes = m * es;
    if (in.size() - pos < 4) return fail("bslz4: stream ends before a block header");
    const std::uint32_t c = read_be32(in.data() + pos);
    pos += 4;
    if (c > in.size() - pos || c > static_cast<std::uint32_t>(LZ4_compressBound(int(bytes)))) {
      return fail("bslz4: block of " + std::to_string(c) + " bytes runs past the stream");
    }
    const int r = LZ4_decompress_safe(reinterpret_cast<const char*>(in.data() + pos),
                                      reinterpret_cast<char*>(tmp.data()),
                                      int(c),
                                      int(bytes));
    if (r != int(bytes)) return fail("bslz4: corrupt LZ4 block at byte " + std::to_string(pos));
    pos += c;
    bitunshuffle_block(tmp.data(), out.data() + off, m, es);
    off += bytes;
    return {};
  };
  for (std::size_t b = 0; b < full; ++b) {
    if (auto r = one_block(block); !r) return r;
  }
  if (last > 0) {
    if (auto r = one_block(last); !r) return r;
  }
  if (in.size() - pos != leftover) {
    return fail("bslz4: " + std::to_string(in.size() - pos) + " bytes after the last block, " +
                std::to_string(leftover) + " expected");
  }
  if (leftover > 0) std::memcpy(out.data() + off, in.data() + pos, leftover);
  return {};
}

Expected<void> lz4_hdf5_decompress(std::span<const std::uint8_t> in, std::span<std::uint8_t> out) {
  auto h = read_framed_header(in);
  if (!h) return tl::unexpected(h.error());
  if (h->orig_size != out.size()) {
    return fail("lz4 stream holds " + std::to_string(h->orig_size) + " bytes, the frame has " +
                std::to_string(out.size()));
  }
  if (h->block_bytes == 0 && !out.empty()) return fail("lz4: block size 0");
  std::size_t pos = kHeaderBytes;
  std::size_t off = 0;
  while (off < out.size()) {
    const std::size_t bytes = std::min<std::size_t>(h->block_bytes, out.size() - off);
    if (in.size() - pos < 4) return fail("lz4: stream ends before a block header");
    const std::uint32_t c = read_be32(in.data() + pos);
    pos += 4;
    if (c > in.size() - pos) return fail("lz4: block runs past the stream");
    if (c == bytes) {  // stored uncompressed
      std::memcpy(out.data() + off, in.data() + pos, bytes);
    } else {
      const int r = LZ4_decompress_safe(reinterpret_cast<const char*>(in.data() + pos),
                                        reinterpret_cast<char*>(out.data() + off),
                                        int(c),
                                        int(bytes));
      if (r != int(bytes)) return fail("lz4: corrupt LZ4 block at byte " + std::to_string(pos));
    }
    pos += c;
    off += bytes;
  }
  if (pos != in.size()) {
    return fail("lz4: " + std::to_string(in.size() - pos) + " bytes after the last block");
  }
  return {};
}

Expected<void> lz4_block_decompress(std::span<const std::uint8_t> in, std::span<std::uint8_t> out) {
  const int r = LZ4_decompress_safe(reinterpret_cast<const char*>(in.data()),
                                    reinterpret_cast<char*>(out.data()),
                                    int(in.size()),
                                    int(out.size()));
  if (r != int(out.size())) {
    return fail("lz4 block: corrupt, or decodes to " + std::to_string(r) + " bytes instead of " +
                std::to_string(out.size()));
  }
  return {};
}

Expected<void> decompress(Codec codec,
                          std::size_t elem_size,
                          std::span<const std::uint8_t> in,
                          std::span<std::uint8_t> out) {
  switch (codec) {
    case Codec::kNone:
      if (in.size() != out.size()) {
        return fail("uncompressed frame of " + std::to_string(in.size()) + " bytes, expected " +
                    std::to_string(out.size()));
      }
      if (!in.empty()) std::memcpy(out.data(), in.data(), in.size());
      return {};
    case Codec::kBslz4:
      return bslz4_decompress(in, out, elem_size);
    case Codec::kLz4Hdf5:
      return lz4_hdf5_decompress(in, out);
    case Codec::kLz4Block:
      return lz4_block_decompress(in, out);
  }
  return fail("unknown codec");
}

void bslz4_compress(std::span<const std::uint8_t> in,
                    std::size_t es,
                    std::vector<std::uint8_t>& out,
                    std::size_t block) {
  if (block == 0) block = bslz4_default_block_elems(es);
  const std::size_t n = in.size() / es;
  const std::size_t full = n / block;
  const std::size_t last = (n % block) - (n % block) % 8;
  const std::size_t leftover = in.size() - (full * block + last) * es;
  const std::size_t bound_block = std::size_t(LZ4_compressBound(int(block * es))) + 4;
  out.resize(kHeaderBytes + (full + 1) * bound_block + leftover);
  write_be64(out.data(), in.size());
  write_be32(out.data() + 8, static_cast<std::uint32_t>(block * es));
  std::vector<std::uint8_t> tmp(block * es);
  std::size_t pos = kHeaderBytes;
  std::size_t off = 0;
  const auto one_block = [&](std::size_t m) {
    const std::size_t bytes = m * es;
    bitshuffle_block(in.data() + off, tmp.data(), m, es);
    const int c = LZ4_compress_default(reinterpret_cast<const char*>(tmp.data()),
                                       reinterpret_cast<char*>(out.data() + pos + 4),
                                       int(bytes),
                                       int(out.size() - pos - 4));
    write_be32(out.data() + pos, static_cast<std::uint32_t>(c));
    pos += 4 + std::size_t(c);
    off += bytes;
  };
  for (std::size_t b = 0; b < full; ++b) one_block(block);
  if (last > 0) one_block(last);
  if (leftover > 0) std::memcpy(out.data() + pos, in.data() + off, leftover);
  out.resize(pos + leftover);
}

void lz4_hdf5_compress(std::span<const std::uint8_t> in,
                       std::vector<std::uint8_t>& out,
                       std::size_t block) {
  if (block == 0) block = std::min(std::max<std::size_t>(in.size(), 1), kLz4FilterMaxBlock);
  const std::size_t blocks = (in.size() + block - 1) / block;
  out.resize(kHeaderBytes + blocks * (std::size_t(LZ4_compressBound(int(block))) + 4));
  write_be64(out.data(), in.size());
  write_be32(out.data() + 8, static_cast<std::uint32_t>(block));
  std::size_t pos = kHeaderBytes;
  for (std::size_t off = 0; off < in.size(); off += block) {
    const std::size_t bytes = std::min(block, in.size() - off);
    int c = LZ4_compress_default(reinterpret_cast<const char*>(in.data() + off),
                                 reinterpret_cast<char*>(out.data() + pos + 4),
                                 int(bytes),
                                 int(out.size() - pos - 4));
    // A block that does not shrink is stored as it is; its length then equals its size, which is
    // how the decoder recognises it.
    if (c <= 0 || std::size_t(c) >= bytes) {
      std::memcpy(out.data() + pos + 4, in.data() + off, bytes);
      c = int(bytes);
    }
    write_be32(out.data() + pos, static_cast<std::uint32_t>(c));
    pos += 4 + std::size_t(c);
  }
  out.resize(pos);
}

void lz4_block_compress(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) {
  out.resize(std::size_t(LZ4_compressBound(int(in.size()))));
  const int c = LZ4_compress_default(reinterpret_cast<const char*>(in.data()),
                                     reinterpret_cast<char*>(out.data()),
                                     int(in.size()),
                                     int(out.size()));
  out.resize(std::size_t(std::max(c, 0)));
}

void compress(Codec codec,
              std::size_t elem_size,
              std::span<const std::uint8_t> in,
              std::vector<std::uint8_t>& out) {
  switch (codec) {
    case Codec::kNone:
      out.assign(in.begin(), in.end());
      return;
    case Codec::kBslz4:
      bslz4_compress(in, elem_size, out);
      return;
    case Codec::kLz4Hdf5:
      lz4_hdf5_compress(in, out);
      return;
    case Codec::kLz4Block:
      lz4_block_compress(in, out);
      return;
  }
}

void decode_frames(std::span<DecodeJob> jobs) {
  const auto one = [](DecodeJob& j) {
    if (j.md5) {
      const Md5Digest got = md5(j.src);
      if (got != *j.md5) {
        j.error = drop_error(DropReason::kHashMismatch,
                             "md5 of the " + std::to_string(j.src.size()) + "-byte blob is " +
                                 md5_hex(got) + ", the message says " + md5_hex(*j.md5));
        return;
      }
    }
    auto r = decompress(j.codec, j.elem_size, j.src, j.dst);
    if (!r) j.error = std::move(r.error());
  };
  if (jobs.size() == 1) {
    one(jobs[0]);
    return;
  }
  // One frame per task: a frame is 10-100 us of work, far above the scheduling cost.
  tbb::parallel_for(std::size_t{0}, jobs.size(), [&](std::size_t i) { one(jobs[i]); });
}

}  // namespace stemflow::ingest::codecs
