// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "operators/origin/origin.hpp"
#include "pipeline/core/operator.hpp"

namespace stemflow::ops {

struct DpcParams {
  std::string com, com_where;          // the center_of_mass operator read
  std::optional<double> rotation_deg;  // given: no search
  std::optional<bool> transpose;       // given: no search
  OriginFit fit = OriginFit::kPlane;   // the CoM's descan fit, subtracted first
  std::uint32_t max_iter = 64;
  double step_size = 0.5;
  double padding_factor = 2.0;
  double preview_seconds = 2.0;  // the live phase at most this often (it is a scan-wide solve)
};

//! What the series-level DPC gives.
struct DpcResult {
  double rotation_deg = 0;
  bool transpose = false;
  std::vector<double> phase;  // rows * cols
  std::vector<double> ddpc;   // rows * cols, NaN on the border
};

//! py4DSTEM 0.14.18's DPC (process/phase/dpc.py) on a CoM map (rows x cols, detector px, NaN
//! where absent): the CoM minus its fit (fit_origin), NaN as 0 (nan_to_num); the rotation and
//! transpose between scan and detector minimising the mean |curl| over -89..89 degrees in 1-degree
//! steps (_solve_for_center_of_mass_relative_rotation), unless given; then reconstruct(): from a
//! zero phase on a grid padded by padding_factor, max_iter gradient steps whose update is the
//! Fourier integration of the residual between the rotated CoM and the phase's centred
//! differences (step halved whenever the error rises, stop below 1e-6). Unit samplings: the phase
//! is in detector px x scan px. dDPC: the divergence of the rotated CoM by centred differences.
DpcResult solve_dpc(const std::vector<double>& com_x,
                    const std::vector<double>& com_y,
                    std::uint32_t rows,
                    std::uint32_t cols,
                    const DpcParams& p);

//! DpcOp: the phase of the sample from a center_of_mass operator, while the scan runs.
//! Inputs:  a center_of_mass operator's qx, qy maps (through the result store).
//! Outputs: RealSlices <name>_phase (iDPC) and <name>_ddpc (dDPC) at series end; live (preview)
//!          every preview_seconds from the frames so far (missing positions count as no
//!          deflection). The rotation and transpose found are logged.
//! Threading: the series-end solve in conclude() (the engine thread). The live solve takes
//!          seconds on a large scan (2.6 s at 256x256 on one core), so preview() never runs it on
//!          the sink thread: it copies the CoM maps and hands them to a thread of the operator's,
//!          and returns the last finished phase when there is a new one.
class DpcOp final : public Operator {
 public:
  DpcOp(std::string name, DpcParams p);
  ~DpcOp() override;
  std::string_view type() const override { return "dpc"; }
  void start(const SeriesHeader& series) override;
  OutputSpec outputs() const override { return {}; }
  std::vector<OperatorInput> inputs() const override;
  void process(const FrameBatch&, OperatorResults&) const override {}
  std::vector<SeriesImage> preview(const ResultStore& store) const override;
  std::vector<SeriesImage> conclude(const ResultStore& store) override;

 private:
  std::vector<SeriesImage> images(const std::vector<double>& qx,
                                  const std::vector<double>& qy,
                                  bool log) const;
  void join() const;

  DpcParams p_;
  SeriesHeader series_{};
  // The live solve (preview() is const: the sink thread's own state, guarded for the worker).
  mutable std::chrono::steady_clock::time_point last_preview_{};
  mutable std::mutex mutex_;
  mutable std::thread worker_;
  mutable bool busy_ = false;
  mutable std::optional<std::vector<SeriesImage>> ready_;
};

}  // namespace stemflow::ops
