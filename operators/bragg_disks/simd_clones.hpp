// SPDX-License-Identifier: GPL-3.0-or-later
// Hot loops are compiled for several x86-64 levels and picked at load time (GCC target_clones), so
// the binary stays portable while using AVX2/FMA or AVX-512 where the CPU has them.
// Not under ThreadSanitizer: GCC instruments the ifunc resolver that target_clones generates
// (__tsan_func_entry), and the dynamic loader runs it before the TSan runtime is ready, so every
// binary that links these loops crashed at start.
#pragma once

#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(STEMFLOW_NO_TARGET_CLONES) && !defined(__SANITIZE_THREAD__)
#define STEMFLOW_SIMD_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define STEMFLOW_SIMD_CLONES
#endif

namespace stemflow::ops {

// The vectors below never cross a function boundary (everything is inlined into the clones), so the
// ABI note GCC makes about 64-byte vector arguments does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

//! A 64-byte vector of T (GCC vector extension): one AVX-512 register, two AVX2 registers or four
//! SSE registers depending on the clone, without relying on the auto-vectoriser.
template <class T>
struct SimdType;
template <>
struct SimdType<float> {
  typedef float V __attribute__((vector_size(64)));
};
template <>
struct SimdType<double> {
  typedef double V __attribute__((vector_size(64)));
};

template <class T>
struct Simd {
  using V = typename SimdType<T>::V;
  static constexpr long kLanes = 64 / sizeof(T);
  [[gnu::always_inline]] static V load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  [[gnu::always_inline]] static void store(T* p, V v) { std::memcpy(p, &v, sizeof v); }
};

}  // namespace stemflow::ops
