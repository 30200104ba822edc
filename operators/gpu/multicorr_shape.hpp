// SPDX-License-Identifier: GPL-3.0-or-later
// The block shape of the multicorr patch kernel, shared by the kernel and the host checks (kept
// apart so that CUDA-free code can size it).
#pragma once

#include <cstddef>

namespace stemflow::gpu {

//! Threads of one multicorr block (one block per peak).
constexpr int kMulticorrThreads = 256;
//! Spectrum rows whose row twiddles a block stages in shared memory at a time.
constexpr int kMulticorrRowTile = 32;
//! Patch rows one thread accumulates in registers in the first stage.
constexpr int kMulticorrRowsPerThread = 8;

//! Patch rows rounded up to whole register groups (the staged twiddle rows beyond n are zero).
constexpr int multicorr_padded_rows(int n) {
  return (n + kMulticorrRowsPerThread - 1) / kMulticorrRowsPerThread * kMulticorrRowsPerThread;
}

//! Dynamic shared memory of one multicorr block, in bytes: the first-stage result G (n x ncols
//! complex double), the staged row twiddles (padded rows x kMulticorrRowTile complex double), the
//! patch (n x n double) and the argmax scratch (one value and one index per warp).
constexpr std::size_t multicorr_smem_bytes(int n, unsigned ncols) {
  const std::size_t nn = static_cast<std::size_t>(n);
  const std::size_t padded = static_cast<std::size_t>(multicorr_padded_rows(n));
  return nn * ncols * 16 + padded * kMulticorrRowTile * 16 + nn * nn * 8 +
         (kMulticorrThreads / 32) * 16;
}

}  // namespace stemflow::gpu
