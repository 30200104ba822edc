// SPDX-License-Identifier: GPL-3.0-or-later
// The reduced results of one series, scattered from batches into scan-shaped maps: per-frame
// scalars as (Rx, Ry) images, peak lists per scan position, the coverage mask, and per-series
// images. This is the only state that grows with the scan, and only with its number of positions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "pipeline/core/batch.hpp"
#include "pipeline/core/operator.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow {

//! What an operator of the pipeline outputs, and how to describe it in the file.
struct OutputInfo {
  std::string name;  // operator name
  std::string type;  // operator type
  OutputSpec spec;
  std::vector<std::pair<std::string, std::string>> parameters;  // for provenance (gen_params)
};

class ResultStore {
 public:
  //! Sizes every map for the series (NaN = no result) and clears the coverage.
  void start(const SeriesHeader& series, std::vector<OutputInfo> outputs);
  //! Scatters one batch (called serially, in batch order). An operator's failure on a frame leaves
  //! NaN in that operator's maps for that frame.
  void consume(const FrameBatch& batch);
  //! Appends to operator `op`'s per-series images (finish(), then conclude()).
  void add_series_images(std::size_t op, std::vector<SeriesImage> images);
  //! Replaces operator `op`'s live images (preview()); cleared at the start of a series.
  void set_live_images(std::size_t op, std::vector<SeriesImage> images);

  const SeriesHeader& series() const { return series_; }
  const std::vector<OutputInfo>& outputs() const { return outputs_; }
  //! Scalar `k` of operator `op` as an Rx x Ry row-major map.
  const std::vector<double>& map(std::size_t op, std::size_t k) const { return maps_[op][k]; }
  //! Peaks found at scan position `index` by operator `op` (empty if none or not received).
  std::span<const Peak> peaks(std::size_t op, std::uint64_t index) const;
  //! Number of peaks per position (0 where no frame arrived).
  const std::vector<std::uint32_t>& peak_counts(std::size_t op) const { return peak_count_[op]; }
  const std::vector<SeriesImage>& series_images(std::size_t op) const { return images_[op]; }
  const std::vector<SeriesImage>& live_images(std::size_t op) const { return live_[op]; }
  //! Times set_live_images() replaced any images this series (observers see a change by it).
  std::uint64_t live_generation() const { return live_generation_; }
  //! 1 where a frame reached the results, 0 where none did.
  const std::vector<std::uint8_t>& coverage() const { return coverage_; }
  std::uint64_t frames_processed() const { return frames_processed_; }
  //! Frames on which at least one operator failed (counted as dropped with reason operator_error).
  std::uint64_t frames_failed() const { return frames_failed_; }
  std::uint64_t failures(std::size_t op) const { return failures_[op]; }

 private:
  SeriesHeader series_;
  std::vector<OutputInfo> outputs_;
  std::vector<std::vector<std::vector<double>>> maps_;   // [op][scalar][position]
  std::vector<std::vector<Peak>> peak_arena_;            // [op]: peaks of all positions, appended
  std::vector<std::vector<std::uint64_t>> peak_offset_;  // [op][position]
  std::vector<std::vector<std::uint32_t>> peak_count_;   // [op][position]
  std::vector<std::vector<SeriesImage>> images_;
  std::vector<std::vector<SeriesImage>> live_;
  std::uint64_t live_generation_ = 0;
  std::vector<std::uint8_t> coverage_;
  std::vector<std::uint64_t> failures_;
  std::uint64_t frames_processed_ = 0;
  std::uint64_t frames_failed_ = 0;
};

}  // namespace stemflow
