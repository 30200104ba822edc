// SPDX-License-Identifier: GPL-3.0-or-later
// The CPU Bragg disk detector: py4DSTEM 0.14.18's _find_Bragg_disks_single for one frame, with FFTW
// (float or double) and no allocation per frame.
//
// Threading: a BraggDiskDetector is immutable after construction and shared by all threads; each
// thread owns one DetectorWorkspace (FFTW plans and buffers) made by make_workspace().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "operators/bragg_disks/bragg_disks_params.hpp"
#include "operators/bragg_disks/probe_template.hpp"
#include "pipeline/core/batch.hpp"
#include "pipeline/core/expected.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow::ops {

//! Per-thread working state: FFTW plans and every buffer a frame needs, sized once.
class DetectorWorkspace {
 public:
  virtual ~DetectorWorkspace() = default;
};

//! Intermediate images of one frame, float64, rows x cols (for tests and debugging).
struct DetectorStages {
  std::vector<double> cc;           // max(real(ifft2(ccF)), 0)
  std::vector<double> cc_smoothed;  // after the Gaussian (sigma); equal to cc when sigma = 0
};

class BraggDiskDetector {
 public:
  //! kernel: the real-space template (rows x cols, centre at (0, 0)); empty = no template.
  //! Throws ConfigError when the parameters are invalid or the kernel does not fit the frame.
  BraggDiskDetector(const BraggDisksParams& params,
                    const ProbeKernel& kernel,
                    std::uint32_t rows,
                    std::uint32_t cols);
  ~BraggDiskDetector();
  BraggDiskDetector(const BraggDiskDetector&) = delete;
  BraggDiskDetector& operator=(const BraggDiskDetector&) = delete;

  std::unique_ptr<DetectorWorkspace> make_workspace() const;

  //! Finds the peaks of one frame (rows x cols pixels of dtype, row-major) and writes them to
  //! out[0, count) in py4DSTEM's output order; out must hold max_num_peaks records. Returns the
  //! count, or an error for a frame it cannot process (non-finite pixels). Never throws.
  Expected<std::uint32_t> detect(const std::byte* frame,
                                 Dtype dtype,
                                 DetectorWorkspace& ws,
                                 std::span<Peak> out,
                                 DetectorStages* stages = nullptr) const;

  std::uint32_t rows() const { return rows_; }
  std::uint32_t cols() const { return cols_; }
  const BraggDisksParams& params() const { return params_; }

  struct ImplBase;

 private:
  BraggDisksParams params_;
  std::uint32_t rows_;
  std::uint32_t cols_;
  std::unique_ptr<ImplBase> impl_;
};

}  // namespace stemflow::ops
