// SPDX-License-Identifier: GPL-3.0-or-later
// The returning half of the CUDA status macros (CONTRIBUTING.md, "Errors and logging"), for
// launchers and per-batch code: the first failing CUDA or cuFFT status is returned at once. Depends
// on nothing but CUDA, so kernel files include it; cuda_check.hpp adds the throwing checks for
// start-up code.
#pragma once

#include <cuda_runtime.h>
#include <cufft.h>

namespace stemflow::gpu {

//! cuFFT has its own status type; launchers report cudaError_t, so cuFFT failures map onto the
//! nearest CUDA status (the message in cufft_status_name keeps the original).
inline cudaError_t cufft_to_cuda(cufftResult r) {
  switch (r) {
    case CUFFT_SUCCESS:
      return cudaSuccess;
    case CUFFT_ALLOC_FAILED:
      return cudaErrorMemoryAllocation;
    case CUFFT_INVALID_VALUE:
    case CUFFT_INVALID_SIZE:
    case CUFFT_INVALID_PLAN:
      return cudaErrorInvalidValue;
    case CUFFT_EXEC_FAILED:
      return cudaErrorLaunchFailure;
    default:
      return cudaErrorUnknown;
  }
}

inline const char* cufft_status_name(cufftResult r) {
  switch (r) {
    case CUFFT_SUCCESS:
      return "CUFFT_SUCCESS";
    case CUFFT_INVALID_PLAN:
      return "CUFFT_INVALID_PLAN";
    case CUFFT_ALLOC_FAILED:
      return "CUFFT_ALLOC_FAILED";
    case CUFFT_INVALID_VALUE:
      return "CUFFT_INVALID_VALUE";
    case CUFFT_INTERNAL_ERROR:
      return "CUFFT_INTERNAL_ERROR";
    case CUFFT_EXEC_FAILED:
      return "CUFFT_EXEC_FAILED";
    case CUFFT_SETUP_FAILED:
      return "CUFFT_SETUP_FAILED";
    case CUFFT_INVALID_SIZE:
      return "CUFFT_INVALID_SIZE";
    default:
      return "cuFFT error";
  }
}

}  // namespace stemflow::gpu

//! Returns the status from the enclosing function (which returns cudaError_t) unless it is success.
#define STEMFLOW_CUDA_TRY(expr)                                   \
  do {                                                            \
    const cudaError_t stemflow_status_ = (expr);                  \
    if (stemflow_status_ != cudaSuccess) return stemflow_status_; \
  } while (0)

#define STEMFLOW_CUFFT_TRY(expr)                                   \
  do {                                                             \
    const cufftResult stemflow_fft_status_ = (expr);               \
    if (stemflow_fft_status_ != CUFFT_SUCCESS)                     \
      return ::stemflow::gpu::cufft_to_cuda(stemflow_fft_status_); \
  } while (0)
