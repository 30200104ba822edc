// SPDX-License-Identifier: GPL-3.0-or-later
// The bitshuffle/LZ4 codecs: the bit transposition against its definition (every SIMD level), round
// trips of the framed formats with partial blocks and leftovers, byte equality with the reference
// bitshuffle library (Debian `bitshuffle`, loaded at run time), corrupt or truncated input, and the
// MD5 of stream V1 blobs (RFC 1321 test suite) checked before decoding.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "ingest/codecs/bitshuffle.hpp"
#include "ingest/codecs/compression.hpp"
#include "ingest/codecs/md5.hpp"
#include "sha256.hpp"

using namespace stemflow;
using namespace stemflow::ingest::codecs;

namespace {

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint32_t seed, int max_value = 255) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(0, max_value);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(d(rng));
  return v;
}

// Detector-like pixels: small counts, little-endian, so that LZ4 has something to compress.
std::vector<std::uint8_t> counts_like(std::size_t n_elems, std::size_t es, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::poisson_distribution<int> d(3.0);
  std::vector<std::uint8_t> v(n_elems * es, 0);
  for (std::size_t i = 0; i < n_elems; ++i) {
    const int x = d(rng) + (i % 97 == 0 ? 1000 : 0);
    for (std::size_t j = 0; j < es && j < sizeof(int); ++j)
      v[i * es + j] = std::uint8_t(x >> (8 * j));
  }
  return v;
}

// The transposition written straight from its definition (docs/protocols.md section 2.2).
std::vector<std::uint8_t> shuffle_by_definition(const std::vector<std::uint8_t>& in,
                                                std::size_t m,
                                                std::size_t es) {
  std::vector<std::uint8_t> out(m * es, 0);
  for (std::size_t e = 0; e < m; ++e) {
    for (std::size_t j = 0; j < es; ++j) {
      for (std::size_t k = 0; k < 8; ++k) {
        if ((in[e * es + j] >> k) & 1)
          out[(j * 8 + k) * (m / 8) + e / 8] |= std::uint8_t(1u << (e % 8));
      }
    }
  }
  return out;
}

// The reference library, if installed: the HDF5 plugin of Debian's bitshuffle exports the C API.
struct Reference {
  using Fn = std::int64_t (*)(const void*, void*, std::size_t, std::size_t, std::size_t);
  using Bound = std::size_t (*)(std::size_t, std::size_t, std::size_t);
  void* handle = nullptr;
  Fn bitshuffle = nullptr;
  Fn compress_lz4 = nullptr;
  Fn decompress_lz4 = nullptr;
  Bound bound = nullptr;

  Reference() {
    for (const char* p : {"/usr/lib/x86_64-linux-gnu/hdf5/serial/plugins/libh5bshuf.so",
                          "/usr/lib/aarch64-linux-gnu/hdf5/serial/plugins/libh5bshuf.so"}) {
      handle = dlopen(p, RTLD_NOW | RTLD_LOCAL);
      if (handle != nullptr) break;
    }
    if (handle == nullptr) return;
    bitshuffle = reinterpret_cast<Fn>(dlsym(handle, "bshuf_bitshuffle"));
    compress_lz4 = reinterpret_cast<Fn>(dlsym(handle, "bshuf_compress_lz4"));
    decompress_lz4 = reinterpret_cast<Fn>(dlsym(handle, "bshuf_decompress_lz4"));
    bound = reinterpret_cast<Bound>(dlsym(handle, "bshuf_compress_lz4_bound"));
  }
  bool ok() const { return bitshuffle && compress_lz4 && decompress_lz4 && bound; }
};

const Reference& reference() {
  static const Reference r;
  return r;
}

#define REQUIRE_REFERENCE()                                                                      \
  if (!reference().ok())                                                                         \
  GTEST_SKIP() << "reference bitshuffle library (Debian package bitshuffle, libh5bshuf.so) not " \
                  "installed; run deploy/install-deps.sh"

}  // namespace

// The SHA-256 used by the replay tests reproduces the FIPS 180-4 examples.
TEST(Sha256, FipsVectors) {
  const std::string abc = "abc";
  EXPECT_EQ(test::Sha256::of({reinterpret_cast<const std::uint8_t*>(abc.data()), abc.size()}),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(test::Sha256::of({reinterpret_cast<const std::uint8_t*>(two.data()), two.size()}),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(test::Sha256::of({}),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// bitshuffle_block equals the definition, and every SIMD level inverts it, for all element sizes
// and for block lengths that are and are not multiples of the vector widths.
TEST(Bitshuffle, BlockMatchesDefinitionAtEveryLevel) {
  for (std::size_t es : {1, 2, 4, 8, 3}) {
    for (std::size_t m : {8, 16, 64, 128, 136, 256, 264, 384, 520, 2048, 4096, 8192}) {
      const auto in = random_bytes(m * es, std::uint32_t(m * 31 + es));
      std::vector<std::uint8_t> shuffled(m * es);
      bitshuffle_block(in.data(), shuffled.data(), m, es);
      ASSERT_EQ(shuffled, shuffle_by_definition(in, m, es)) << "es " << es << " m " << m;
      for (auto level : {SimdLevel::kScalar, SimdLevel::kSse2, SimdLevel::kAvx2}) {
        std::vector<std::uint8_t> back(m * es, 0xEE);
        bitunshuffle_block(shuffled.data(), back.data(), m, es, level);
        ASSERT_EQ(back, in) << "es " << es << " m " << m << " level " << simd_level_name(level);
      }
    }
  }
}

// The transposition is byte for byte the reference library's (one block, default block size).
TEST(Bitshuffle, MatchesReferenceLibrary) {
  REQUIRE_REFERENCE();
  for (std::size_t es : {1, 2, 4}) {
    for (std::size_t m : {64, 128, 2048, 4096}) {
      const auto in = random_bytes(m * es, std::uint32_t(m + es));
      std::vector<std::uint8_t> ours(m * es), theirs(m * es);
      bitshuffle_block(in.data(), ours.data(), m, es);
      ASSERT_GE(reference().bitshuffle(in.data(), theirs.data(), m, es, m), 0);
      EXPECT_EQ(ours, theirs) << "es " << es << " m " << m;
    }
  }
}

// bslz4 round trips for sizes with full blocks, a partial last block and leftover elements.
TEST(Bslz4, RoundTripWithPartialBlocksAndLeftovers) {
  for (std::size_t es : {1, 2, 4}) {
    for (std::size_t n : {0, 5, 8, 13, 4096, 4099, 4104, 8192 * 3 + 77, 256 * 256}) {
      const auto in = counts_like(n, es, std::uint32_t(n + es));
      std::vector<std::uint8_t> packed;
      bslz4_compress(in, es, packed);
      std::vector<std::uint8_t> out(in.size(), 0xAB);
      auto r = bslz4_decompress(packed, out, es);
      ASSERT_TRUE(r) << "es " << es << " n " << n << ": " << r.error().message;
      EXPECT_EQ(out, in) << "es " << es << " n " << n;
    }
  }
}

// A stream written with a non-default block size in its header decodes with that block size.
TEST(Bslz4, UsesTheBlockSizeOfTheHeader) {
  const auto in = counts_like(10000, 2, 7);
  std::vector<std::uint8_t> packed;
  bslz4_compress(in, 2, packed, 256);
  std::vector<std::uint8_t> out(in.size());
  ASSERT_TRUE(bslz4_decompress(packed, out, 2));
  EXPECT_EQ(out, in);
}

// Our encoder's output is the reference encoder's behind the 12-byte header, and each decoder
// reads the other's stream.
TEST(Bslz4, MatchesReferenceLibrary) {
  REQUIRE_REFERENCE();
  for (std::size_t es : {1, 2, 4}) {
    for (std::size_t n : {4096, 4099, 65536, 100003}) {
      const auto in = counts_like(n, es, std::uint32_t(n * es));
      std::vector<std::uint8_t> ours;
      bslz4_compress(in, es, ours);
      std::vector<std::uint8_t> theirs(reference().bound(n, es, 0));
      const auto c = reference().compress_lz4(in.data(), theirs.data(), n, es, 0);
      ASSERT_GT(c, 0);
      theirs.resize(std::size_t(c));
      ASSERT_EQ(ours.size(), theirs.size() + 12) << "es " << es << " n " << n;
      EXPECT_TRUE(std::equal(theirs.begin(), theirs.end(), ours.begin() + 12));
      std::vector<std::uint8_t> back(in.size());
      ASSERT_EQ(reference().decompress_lz4(ours.data() + 12, back.data(), n, es, 0), c);
      EXPECT_EQ(back, in);
    }
  }
}

// Every truncation of a bslz4 stream is an error, never a partly written frame that passes.
TEST(Bslz4, EveryTruncationIsAnError) {
  const auto in = counts_like(3000, 2, 3);
  std::vector<std::uint8_t> packed;
  bslz4_compress(in, 2, packed);
  std::vector<std::uint8_t> out(in.size());
  for (std::size_t len = 0; len < packed.size(); ++len) {
    auto r = bslz4_decompress({packed.data(), len}, out, 2);
    ASSERT_FALSE(r) << "a stream cut at " << len << " of " << packed.size() << " bytes decoded";
    EXPECT_EQ(r.error().code, "decode_error");
  }
}

// Corrupt input (wrong announced size, block lengths past the end, random bytes) is reported as a
// decode error and never reads or writes out of bounds (run under ASan in the dev preset).
TEST(Bslz4, CorruptInputIsAnError) {
  const auto in = counts_like(5000, 2, 4);
  std::vector<std::uint8_t> packed;
  bslz4_compress(in, 2, packed);
  std::vector<std::uint8_t> out(in.size());
  {
    auto bad = packed;
    bad[7] ^= 0x02;  // announced size
    EXPECT_FALSE(bslz4_decompress(bad, out, 2));
  }
  {
    auto bad = packed;
    bad[12] = 0x7F;  // first block length far past the end
    EXPECT_FALSE(bslz4_decompress(bad, out, 2));
  }
  {
    auto bad = packed;
    bad[11] = 3;  // block size not a multiple of 8 elements
    EXPECT_FALSE(bslz4_decompress(bad, out, 2));
  }
  std::mt19937 rng(9);
  int errors = 0;
  for (int trial = 0; trial < 200; ++trial) {
    auto bad = packed;
    for (int k = 0; k < 4; ++k) bad[12 + rng() % (bad.size() - 12)] = std::uint8_t(rng());
    if (!bslz4_decompress(bad, out, 2)) ++errors;
  }
  // LZ4 has no checksum: a flipped literal byte can decode to the right length. Most corruptions
  // are caught (about 40 % with 4 random bytes); none may crash.
  EXPECT_GT(errors, 40);
  EXPECT_FALSE(bslz4_decompress(random_bytes(4000, 5), out, 2));
}

// LZ4 with HDF5 framing round trips, stores incompressible blocks raw and splits into blocks.
TEST(Lz4Hdf5, RoundTripCompressibleIncompressibleAndMultiBlock) {
  const auto smooth = counts_like(70000, 2, 1);
  const auto noise = random_bytes(50000, 2);
  for (const auto* in : {&smooth, &noise}) {
    for (std::size_t block : {0, 4096, 65536}) {
      std::vector<std::uint8_t> packed;
      lz4_hdf5_compress(*in, packed, block);
      std::vector<std::uint8_t> out(in->size());
      auto r = lz4_hdf5_decompress(packed, out);
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_EQ(out, *in);
      for (std::size_t len :
           {std::size_t{0}, std::size_t{11}, packed.size() / 2, packed.size() - 1}) {
        EXPECT_FALSE(lz4_hdf5_decompress({packed.data(), len}, out)) << "cut at " << len;
      }
    }
  }
  std::vector<std::uint8_t> packed;
  lz4_hdf5_compress(noise, packed);
  EXPECT_EQ(packed.size(), noise.size() + 16) << "incompressible data is stored raw";
}

// A raw LZ4 block (stream V1 "lz4<") decodes only to exactly the frame size.
TEST(Lz4Block, RoundTripAndWrongSize) {
  const auto in = counts_like(4096, 2, 8);
  std::vector<std::uint8_t> packed;
  lz4_block_compress(in, packed);
  std::vector<std::uint8_t> out(in.size());
  ASSERT_TRUE(lz4_block_decompress(packed, out));
  EXPECT_EQ(out, in);
  std::vector<std::uint8_t> larger(in.size() + 2);
  EXPECT_FALSE(lz4_block_decompress(packed, larger));
  EXPECT_FALSE(lz4_block_decompress({packed.data(), packed.size() - 3}, out));
}

// decode_frames decodes many frames in parallel; one corrupt frame fails alone.
TEST(DecodeFrames, ParallelWithOneCorruptFrame) {
  constexpr std::size_t kFrames = 24, kPixels = 128 * 128;
  std::vector<std::vector<std::uint8_t>> raw, packed(kFrames);
  for (std::size_t f = 0; f < kFrames; ++f) {
    raw.push_back(counts_like(kPixels, 2, std::uint32_t(100 + f)));
    compress(f % 2 ? Codec::kBslz4 : Codec::kLz4Hdf5, 2, raw[f], packed[f]);
  }
  packed[5].resize(packed[5].size() - 10);
  std::vector<std::uint8_t> out(kFrames * kPixels * 2);
  std::vector<DecodeJob> jobs(kFrames);
  for (std::size_t f = 0; f < kFrames; ++f) {
    jobs[f] = {f % 2 ? Codec::kBslz4 : Codec::kLz4Hdf5,
               2,
               packed[f],
               {out.data() + f * kPixels * 2, kPixels * 2},
               std::nullopt,
               std::nullopt};
  }
  decode_frames(jobs);
  for (std::size_t f = 0; f < kFrames; ++f) {
    if (f == 5) {
      EXPECT_TRUE(jobs[f].error.has_value());
      continue;
    }
    ASSERT_FALSE(jobs[f].error.has_value()) << f << ": " << jobs[f].error->message;
    EXPECT_EQ(0, std::memcmp(out.data() + f * kPixels * 2, raw[f].data(), kPixels * 2)) << f;
  }
}

// Spec: md5 gives the RFC 1321 test-suite digests (the values Python's hashlib.md5 prints), written
// as 32 lower-case hex digits; parse_md5_hex reads them back in either case and refuses anything
// else.
TEST(Md5, Rfc1321TestSuite) {
  const std::vector<std::pair<std::string, std::string>> suite = {
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"a", "0cc175b9c0f1b6a831c399e269772661"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
      {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
      {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
       "d174ab98d277d9f5a5611c2c9f419d9f"},
      {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
       "57edf4a22be3c955ac49da2e2107b67a"},
  };
  for (const auto& [text, hex] : suite) {
    const auto d = md5({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
    EXPECT_EQ(md5_hex(d), hex) << "'" << text << "'";
    const auto parsed = parse_md5_hex(hex);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, d);
  }
  EXPECT_EQ(parse_md5_hex("900150983CD24FB0D6963F7D28E17F72"),
            parse_md5_hex("900150983cd24fb0d6963f7d28e17f72"));
  EXPECT_FALSE(parse_md5_hex(""));
  EXPECT_FALSE(parse_md5_hex("900150983cd24fb0d6963f7d28e17f7"));    // 31 digits
  EXPECT_FALSE(parse_md5_hex("900150983cd24fb0d6963f7d28e17f720"));  // 33 digits
  EXPECT_FALSE(parse_md5_hex("900150983cd24fb0d6963f7d28e17f7g"));   // not hex
}

// Spec: a job with an md5 is checked before it is decoded: the right md5 decodes, a wrong one is a
// "hash_mismatch" error that leaves the destination unwritten, whatever the blob's state.
TEST(DecodeFrames, Md5IsCheckedBeforeDecoding) {
  constexpr std::size_t kPixels = 64 * 64;
  const auto raw = counts_like(kPixels, 2, 7);
  std::vector<std::uint8_t> packed;
  compress(Codec::kBslz4, 2, raw, packed);
  auto flipped = packed;
  flipped[flipped.size() / 2] ^= 0x10;
  const auto right = md5(packed);
  std::vector<std::uint8_t> out(3 * kPixels * 2, 0xAB);
  std::vector<DecodeJob> jobs = {
      {Codec::kBslz4, 2, packed, {out.data(), kPixels * 2}, right, std::nullopt},
      {Codec::kBslz4, 2, flipped, {out.data() + kPixels * 2, kPixels * 2}, right, std::nullopt},
      {Codec::kNone, 2, raw, {out.data() + 2 * kPixels * 2, kPixels * 2}, right, std::nullopt},
  };
  decode_frames(jobs);
  ASSERT_FALSE(jobs[0].error.has_value()) << jobs[0].error->message;
  EXPECT_EQ(0, std::memcmp(out.data(), raw.data(), kPixels * 2));
  for (std::size_t j : {1, 2}) {
    ASSERT_TRUE(jobs[j].error.has_value()) << j;
    EXPECT_EQ(jobs[j].error->code, "hash_mismatch") << j;
    EXPECT_NE(jobs[j].error->message.find(md5_hex(right)), std::string::npos)
        << jobs[j].error->message;
    for (std::size_t k = 0; k < kPixels * 2; ++k) ASSERT_EQ(out[j * kPixels * 2 + k], 0xAB) << j;
  }
}
