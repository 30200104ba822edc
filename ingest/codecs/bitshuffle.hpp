// SPDX-License-Identifier: GPL-3.0-or-later
// Bit transposition of one bitshuffle block (docs/protocols.md section 2.2): m elements of
// es bytes (m % 8 == 0) <-> 8*es bit-rows of m/8 bytes, row j*8+k holding bit k of byte j of every
// element, element e at bit e%8 of byte e/8. Byte for byte what the reference bshuf_bitshuffle /
// bshuf_bitunshuffle (kiyo-masui/bitshuffle) produce for one block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace stemflow::ingest::codecs {

//! Which implementation bitunshuffle_block uses (best available on this CPU, chosen once).
enum class SimdLevel { kScalar, kSse2, kAvx2 };

SimdLevel simd_level();
std::string_view simd_level_name(SimdLevel level);

//! Un-transposes one block: `in` holds m*es bit-shuffled bytes, `out` receives m elements of es
//! bytes. m must be a multiple of 8; in and out must not overlap.
void bitunshuffle_block(const std::uint8_t* in, std::uint8_t* out, std::size_t m, std::size_t es);
//! The same with a chosen implementation (tests and benchmarks compare them). A level the CPU lacks
//! falls back to the best one it has.
void bitunshuffle_block(
    const std::uint8_t* in, std::uint8_t* out, std::size_t m, std::size_t es, SimdLevel level);
//! Transposes one block (the encoder, used by the simulator and the tests).
void bitshuffle_block(const std::uint8_t* in, std::uint8_t* out, std::size_t m, std::size_t es);

}  // namespace stemflow::ingest::codecs
