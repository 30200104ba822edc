// SPDX-License-Identifier: GPL-3.0-or-later
// One macro family for every CUDA and cuFFT status (CONTRIBUTING.md, "Errors and logging"):
// launchers and per-batch code return the first failing status at once (STEMFLOW_CUDA_TRY /
// STEMFLOW_CUFFT_TRY, in cuda_try.hpp); start-up code throws ConfigError naming the call, file and
// line (STEMFLOW_CUDA_CHECK / STEMFLOW_CUFFT_CHECK).
#pragma once

#include <string>

#include "operators/gpu/cuda_try.hpp"
#include "pipeline/core/expected.hpp"

namespace stemflow::gpu {

[[noreturn]] inline void throw_cuda(cudaError_t e, const char* what, const char* file, int line) {
  throw ConfigError(std::string("CUDA: ") + what + " failed: " + cudaGetErrorName(e) + " (" +
                    cudaGetErrorString(e) + ") at " + file + ":" + std::to_string(line));
}

[[noreturn]] inline void throw_cufft(cufftResult r, const char* what, const char* file, int line) {
  throw ConfigError(std::string("cuFFT: ") + what + " failed: " + cufft_status_name(r) + " at " +
                    file + ":" + std::to_string(line));
}

}  // namespace stemflow::gpu

//! Throws ConfigError (start-up code only).
#define STEMFLOW_CUDA_CHECK(expr)                                               \
  do {                                                                          \
    const cudaError_t stemflow_status_ = (expr);                                \
    if (stemflow_status_ != cudaSuccess)                                        \
      ::stemflow::gpu::throw_cuda(stemflow_status_, #expr, __FILE__, __LINE__); \
  } while (0)

#define STEMFLOW_CUFFT_CHECK(expr)                                                   \
  do {                                                                               \
    const cufftResult stemflow_fft_status_ = (expr);                                 \
    if (stemflow_fft_status_ != CUFFT_SUCCESS)                                       \
      ::stemflow::gpu::throw_cufft(stemflow_fft_status_, #expr, __FILE__, __LINE__); \
  } while (0)
