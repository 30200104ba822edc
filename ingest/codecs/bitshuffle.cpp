// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/codecs/bitshuffle.hpp"

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define STEMFLOW_X86 1
#endif

namespace stemflow::ingest::codecs {

namespace {

// Transposes the 8x8 bit matrix held in x (bit 8*r + c <-> bit 8*c + r) with three delta swaps
// (Hacker's Delight, transpose8). Byte k of the input is row k; byte i of the result is column i.
inline std::uint64_t transpose8(std::uint64_t x) {
  std::uint64_t t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAull;
  x ^= t ^ (t << 7);
  t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCull;
  x ^= t ^ (t << 14);
  t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ull;
  x ^= t ^ (t << 28);
  return x;
}

// Groups [g0, g1) of a block with `groups` groups of 8 elements, scalar.
void unshuffle_scalar(const std::uint8_t* in,
                      std::uint8_t* out,
                      std::size_t groups,
                      std::size_t es,
                      std::size_t g0,
                      std::size_t g1) {
  for (std::size_t g = g0; g < g1; ++g) {
    for (std::size_t j = 0; j < es; ++j) {
      std::uint64_t x = 0;
      for (std::size_t k = 0; k < 8; ++k) {
        x |= std::uint64_t{in[(j * 8 + k) * groups + g]} << (8 * k);
      }
      x = transpose8(x);
      for (std::size_t i = 0; i < 8; ++i) {
        out[(8 * g + i) * es + j] = static_cast<std::uint8_t>(x >> (8 * i));
      }
    }
  }
}

#ifdef STEMFLOW_X86

// ---- SSE2: 16 groups (128 elements) per step
// -----------------------------------------------------

// One byte plane j of 16 groups: loads the 8 bit-rows, transposes bytes so that vector v holds the
// 8 row bytes of groups 2v and 2v+1 (one per 64-bit lane), then transposes the bits of each lane.
// Afterwards byte i of lane L of w[v] is byte j of element 8 * (2v + L) + i.
inline void plane_sse2(const std::uint8_t* rows, std::size_t groups, __m128i w[8]) {
  __m128i r[8];
  for (int k = 0; k < 8; ++k) {
    r[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows + k * groups));
  }
  const __m128i t0 = _mm_unpacklo_epi8(r[0], r[1]), t1 = _mm_unpackhi_epi8(r[0], r[1]);
  const __m128i t2 = _mm_unpacklo_epi8(r[2], r[3]), t3 = _mm_unpackhi_epi8(r[2], r[3]);
  const __m128i t4 = _mm_unpacklo_epi8(r[4], r[5]), t5 = _mm_unpackhi_epi8(r[4], r[5]);
  const __m128i t6 = _mm_unpacklo_epi8(r[6], r[7]), t7 = _mm_unpackhi_epi8(r[6], r[7]);
  const __m128i u0 = _mm_unpacklo_epi16(t0, t2), u1 = _mm_unpackhi_epi16(t0, t2);
  const __m128i u2 = _mm_unpacklo_epi16(t1, t3), u3 = _mm_unpackhi_epi16(t1, t3);
  const __m128i u4 = _mm_unpacklo_epi16(t4, t6), u5 = _mm_unpackhi_epi16(t4, t6);
  const __m128i u6 = _mm_unpacklo_epi16(t5, t7), u7 = _mm_unpackhi_epi16(t5, t7);
  w[0] = _mm_unpacklo_epi32(u0, u4);
  w[1] = _mm_unpackhi_epi32(u0, u4);
  w[2] = _mm_unpacklo_epi32(u1, u5);
  w[3] = _mm_unpackhi_epi32(u1, u5);
  w[4] = _mm_unpacklo_epi32(u2, u6);
  w[5] = _mm_unpackhi_epi32(u2, u6);
  w[6] = _mm_unpacklo_epi32(u3, u7);
  w[7] = _mm_unpackhi_epi32(u3, u7);
  const __m128i m1 = _mm_set1_epi64x(0x00AA00AA00AA00AAll);
  const __m128i m2 = _mm_set1_epi64x(0x0000CCCC0000CCCCll);
  const __m128i m3 = _mm_set1_epi64x(0x00000000F0F0F0F0ll);
  for (int v = 0; v < 8; ++v) {
    __m128i x = w[v];
    __m128i t = _mm_and_si128(_mm_xor_si128(x, _mm_srli_epi64(x, 7)), m1);
    x = _mm_xor_si128(x, _mm_xor_si128(t, _mm_slli_epi64(t, 7)));
    t = _mm_and_si128(_mm_xor_si128(x, _mm_srli_epi64(x, 14)), m2);
    x = _mm_xor_si128(x, _mm_xor_si128(t, _mm_slli_epi64(t, 14)));
    t = _mm_and_si128(_mm_xor_si128(x, _mm_srli_epi64(x, 28)), m3);
    w[v] = _mm_xor_si128(x, _mm_xor_si128(t, _mm_slli_epi64(t, 28)));
  }
}

inline void store16(std::uint8_t* p, __m128i v) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
}

// 16 groups starting at group g.
template <std::size_t ES>
inline void sse2_step(const std::uint8_t* in,
                      std::uint8_t* out,
                      std::size_t groups,
                      std::size_t g) {
  __m128i p[ES][8];
  for (std::size_t j = 0; j < ES; ++j) plane_sse2(in + j * 8 * groups + g, groups, p[j]);
  for (int v = 0; v < 8; ++v) {
    std::uint8_t* o = out + (8 * g + 16 * v) * ES;  // 16 elements
    if constexpr (ES == 1) {
      store16(o, p[0][v]);
    } else if constexpr (ES == 2) {
      store16(o, _mm_unpacklo_epi8(p[0][v], p[1][v]));
      store16(o + 16, _mm_unpackhi_epi8(p[0][v], p[1][v]));
    } else {
      const __m128i a = _mm_unpacklo_epi8(p[0][v], p[1][v]),
                    b = _mm_unpackhi_epi8(p[0][v], p[1][v]);
      const __m128i c = _mm_unpacklo_epi8(p[2][v], p[3][v]),
                    d = _mm_unpackhi_epi8(p[2][v], p[3][v]);
      store16(o, _mm_unpacklo_epi16(a, c));
      store16(o + 16, _mm_unpackhi_epi16(a, c));
      store16(o + 32, _mm_unpacklo_epi16(b, d));
      store16(o + 48, _mm_unpackhi_epi16(b, d));
    }
  }
}

template <std::size_t ES>
void unshuffle_sse2(const std::uint8_t* in, std::uint8_t* out, std::size_t m) {
  const std::size_t groups = m / 8;
  std::size_t g = 0;
  for (; g + 16 <= groups; g += 16) sse2_step<ES>(in, out, groups, g);
  unshuffle_scalar(in, out, groups, ES, g, groups);
}

// ---- AVX2: 32 groups (256 elements) per step
// ------------------------------------------------------ The same steps; every unpack works within
// a 128-bit lane, so the low lane handles groups 0..15 and the high lane groups 16..31 of the step,
// and the stores put each lane in its place.

__attribute__((target("avx2"))) inline void plane_avx2(const std::uint8_t* rows,
                                                       std::size_t groups,
                                                       __m256i w[8]) {
  __m256i r[8];
  for (int k = 0; k < 8; ++k) {
    r[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows + k * groups));
  }
  const __m256i t0 = _mm256_unpacklo_epi8(r[0], r[1]), t1 = _mm256_unpackhi_epi8(r[0], r[1]);
  const __m256i t2 = _mm256_unpacklo_epi8(r[2], r[3]), t3 = _mm256_unpackhi_epi8(r[2], r[3]);
  const __m256i t4 = _mm256_unpacklo_epi8(r[4], r[5]), t5 = _mm256_unpackhi_epi8(r[4], r[5]);
  const __m256i t6 = _mm256_unpacklo_epi8(r[6], r[7]), t7 = _mm256_unpackhi_epi8(r[6], r[7]);
  const __m256i u0 = _mm256_unpacklo_epi16(t0, t2), u1 = _mm256_unpackhi_epi16(t0, t2);
  const __m256i u2 = _mm256_unpacklo_epi16(t1, t3), u3 = _mm256_unpackhi_epi16(t1, t3);
  const __m256i u4 = _mm256_unpacklo_epi16(t4, t6), u5 = _mm256_unpackhi_epi16(t4, t6);
  const __m256i u6 = _mm256_unpacklo_epi16(t5, t7), u7 = _mm256_unpackhi_epi16(t5, t7);
  w[0] = _mm256_unpacklo_epi32(u0, u4);
  w[1] = _mm256_unpackhi_epi32(u0, u4);
  w[2] = _mm256_unpacklo_epi32(u1, u5);
  w[3] = _mm256_unpackhi_epi32(u1, u5);
  w[4] = _mm256_unpacklo_epi32(u2, u6);
  w[5] = _mm256_unpackhi_epi32(u2, u6);
  w[6] = _mm256_unpacklo_epi32(u3, u7);
  w[7] = _mm256_unpackhi_epi32(u3, u7);
  const __m256i m1 = _mm256_set1_epi64x(0x00AA00AA00AA00AAll);
  const __m256i m2 = _mm256_set1_epi64x(0x0000CCCC0000CCCCll);
  const __m256i m3 = _mm256_set1_epi64x(0x00000000F0F0F0F0ll);
  for (int v = 0; v < 8; ++v) {
    __m256i x = w[v];
    __m256i t = _mm256_and_si256(_mm256_xor_si256(x, _mm256_srli_epi64(x, 7)), m1);
    x = _mm256_xor_si256(x, _mm256_xor_si256(t, _mm256_slli_epi64(t, 7)));
    t = _mm256_and_si256(_mm256_xor_si256(x, _mm256_srli_epi64(x, 14)), m2);
    x = _mm256_xor_si256(x, _mm256_xor_si256(t, _mm256_slli_epi64(t, 14)));
    t = _mm256_and_si256(_mm256_xor_si256(x, _mm256_srli_epi64(x, 28)), m3);
    w[v] = _mm256_xor_si256(x, _mm256_xor_si256(t, _mm256_slli_epi64(t, 28)));
  }
}

// Stores the two lanes of each vector: lane 0 at `lo`, lane 1 at `hi`, 16 bytes apart per vector.
template <int N>
__attribute__((target("avx2"))) inline void store_lanes(std::uint8_t* lo,
                                                        std::uint8_t* hi,
                                                        const __m256i (&v)[N]) {
  for (int i = 0; i < N; ++i) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lo + 16 * i), _mm256_castsi256_si128(v[i]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(hi + 16 * i), _mm256_extracti128_si256(v[i], 1));
  }
}

template <std::size_t ES>
__attribute__((target("avx2"))) void unshuffle_avx2(const std::uint8_t* in,
                                                    std::uint8_t* out,
                                                    std::size_t m) {
  const std::size_t groups = m / 8;
  std::size_t g = 0;
  for (; g + 32 <= groups; g += 32) {
    __m256i p[ES][8];
    for (std::size_t j = 0; j < ES; ++j) plane_avx2(in + j * 8 * groups + g, groups, p[j]);
    for (int v = 0; v < 8; ++v) {
      std::uint8_t* lo = out + (8 * g + 16 * v) * ES;  // 16 elements of lane 0
      std::uint8_t* hi = lo + 128 * ES;                // 16 elements of lane 1
      if constexpr (ES == 1) {
        const __m256i s[1] = {p[0][v]};
        store_lanes(lo, hi, s);
      } else if constexpr (ES == 2) {
        const __m256i s[2] = {_mm256_unpacklo_epi8(p[0][v], p[1][v]),
                              _mm256_unpackhi_epi8(p[0][v], p[1][v])};
        store_lanes(lo, hi, s);
      } else {
        const __m256i a = _mm256_unpacklo_epi8(p[0][v], p[1][v]);
        const __m256i b = _mm256_unpackhi_epi8(p[0][v], p[1][v]);
        const __m256i c = _mm256_unpacklo_epi8(p[2][v], p[3][v]);
        const __m256i d = _mm256_unpackhi_epi8(p[2][v], p[3][v]);
        const __m256i s[4] = {_mm256_unpacklo_epi16(a, c),
                              _mm256_unpackhi_epi16(a, c),
                              _mm256_unpacklo_epi16(b, d),
                              _mm256_unpackhi_epi16(b, d)};
        store_lanes(lo, hi, s);
      }
    }
  }
  // Fewer than 32 groups left (only in a partial last block): SSE2, then scalar.
  for (; g + 16 <= groups; g += 16) sse2_step<ES>(in, out, groups, g);
  unshuffle_scalar(in, out, groups, ES, g, groups);
}

#endif  // STEMFLOW_X86

SimdLevel detect() {
#ifdef STEMFLOW_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) return SimdLevel::kAvx2;
  return SimdLevel::kSse2;  // part of x86-64
#else
  return SimdLevel::kScalar;
#endif
}

}  // namespace

SimdLevel simd_level() {
  static const SimdLevel kLevel = detect();
  return kLevel;
}

std::string_view simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return "scalar";
    case SimdLevel::kSse2:
      return "sse2";
    case SimdLevel::kAvx2:
      return "avx2";
  }
  return "?";
}

void bitunshuffle_block(
    const std::uint8_t* in, std::uint8_t* out, std::size_t m, std::size_t es, SimdLevel level) {
  const std::size_t groups = m / 8;
  if (level > simd_level()) level = simd_level();
#ifdef STEMFLOW_X86
  // The vector kernels cover the element sizes of detector pixels; anything else is rare and
  // scalar.
  const bool vector_es = es == 1 || es == 2 || es == 4;
  if (vector_es && level == SimdLevel::kAvx2) {
    switch (es) {
      case 1:
        return unshuffle_avx2<1>(in, out, m);
      case 2:
        return unshuffle_avx2<2>(in, out, m);
      case 4:
        return unshuffle_avx2<4>(in, out, m);
    }
  }
  if (vector_es && level == SimdLevel::kSse2) {
    switch (es) {
      case 1:
        return unshuffle_sse2<1>(in, out, m);
      case 2:
        return unshuffle_sse2<2>(in, out, m);
      case 4:
        return unshuffle_sse2<4>(in, out, m);
    }
  }
#endif
  unshuffle_scalar(in, out, groups, es, 0, groups);
}

void bitunshuffle_block(const std::uint8_t* in, std::uint8_t* out, std::size_t m, std::size_t es) {
  bitunshuffle_block(in, out, m, es, simd_level());
}

void bitshuffle_block(const std::uint8_t* in, std::uint8_t* out, std::size_t m, std::size_t es) {
  const std::size_t groups = m / 8;
  for (std::size_t g = 0; g < groups; ++g) {
    for (std::size_t j = 0; j < es; ++j) {
      std::uint64_t x = 0;
      for (std::size_t i = 0; i < 8; ++i) {
        x |= std::uint64_t{in[(8 * g + i) * es + j]} << (8 * i);
      }
      x = transpose8(x);
      for (std::size_t k = 0; k < 8; ++k) {
        out[(j * 8 + k) * groups + g] = static_cast<std::uint8_t>(x >> (8 * k));
      }
    }
  }
}

}  // namespace stemflow::ingest::codecs
