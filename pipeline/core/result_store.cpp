// SPDX-License-Identifier: GPL-3.0-or-later
#include "pipeline/core/result_store.hpp"

#include <iterator>
#include <limits>

namespace stemflow {

void ResultStore::start(const SeriesHeader& series, std::vector<OutputInfo> outputs) {
  series_ = series;
  outputs_ = std::move(outputs);
  const std::size_t n = series.scan_size();
  const std::size_t ops = outputs_.size();
  maps_.assign(ops, {});
  peak_arena_.assign(ops, {});
  peak_offset_.assign(ops, {});
  peak_count_.assign(ops, {});
  images_.assign(ops, {});
  live_.assign(ops, {});
  live_generation_ = 0;
  failures_.assign(ops, 0);
  for (std::size_t o = 0; o < ops; ++o) {
    maps_[o].assign(outputs_[o].spec.scalars.size(),
                    std::vector<double>(n, std::numeric_limits<double>::quiet_NaN()));
    if (outputs_[o].spec.max_peaks > 0) {
      peak_offset_[o].assign(n, 0);
      peak_count_[o].assign(n, 0);
    }
  }
  coverage_.assign(n, 0);
  frames_processed_ = 0;
  frames_failed_ = 0;
}

void ResultStore::consume(const FrameBatch& batch) {
  for (std::uint32_t i = 0; i < batch.count; ++i) {
    const std::uint64_t pos = batch.index[i];
    coverage_[pos] = 1;
    ++frames_processed_;
    bool failed = false;
    for (std::size_t o = 0; o < outputs_.size(); ++o) {
      const OperatorResults& r = batch.results[o];
      if (r.failed[i]) {
        ++failures_[o];
        failed = true;
        continue;  // leave NaN / no peaks
      }
      const auto v = r.frame_scalars(i);
      for (std::size_t k = 0; k < v.size(); ++k) maps_[o][k][pos] = v[k];
      if (r.max_peaks > 0) {
        const auto p = r.frame_peaks(i);
        peak_offset_[o][pos] = peak_arena_[o].size();
        peak_count_[o][pos] = static_cast<std::uint32_t>(p.size());
        peak_arena_[o].insert(peak_arena_[o].end(), p.begin(), p.end());
      }
    }
    frames_failed_ += failed;
  }
}

void ResultStore::add_series_images(std::size_t op, std::vector<SeriesImage> images) {
  images_[op].insert(images_[op].end(),
                     std::make_move_iterator(images.begin()),
                     std::make_move_iterator(images.end()));
}

void ResultStore::set_live_images(std::size_t op, std::vector<SeriesImage> images) {
  live_[op] = std::move(images);
  ++live_generation_;
}

std::span<const Peak> ResultStore::peaks(std::size_t op, std::uint64_t index) const {
  if (peak_count_[op].empty()) return {};
  return {peak_arena_[op].data() + peak_offset_[op][index], peak_count_[op][index]};
}

}  // namespace stemflow
