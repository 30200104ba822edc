// SPDX-License-Identifier: GPL-3.0-or-later
#include "operators/bragg_vector_map/bragg_vector_map.hpp"

#include <cmath>

#include "pipeline/core/result_store.hpp"

namespace stemflow::ops {

BraggVectorMapOp::BraggVectorMapOp(std::string name, BraggVectorMapParams p)
    : Operator(std::move(name)), p_(std::move(p)) {}

std::vector<OperatorInput> BraggVectorMapOp::inputs() const {
  std::vector<OperatorInput> in{{"bragg", p_.bragg_where, p_.bragg, "bragg_disks"}};
  if (!p_.origin.empty()) in.push_back({"origin", p_.origin_where, p_.origin, "origin"});
  return in;
}

void BraggVectorMapOp::start(const SeriesHeader& series) {
  bins_x_ = static_cast<std::uint32_t>(std::lround(series.frame_rows * p_.sampling));
  bins_y_ = static_cast<std::uint32_t>(std::lround(series.frame_cols * p_.sampling));
  live_cx_ = p_.has_center ? p_.center_qx : series.frame_rows / 2.0;
  live_cy_ = p_.has_center ? p_.center_qy : series.frame_cols / 2.0;
  hist_.assign(std::size_t(bins_x_) * bins_y_, 0.0);
  frames_ = 0;
  dirty_ = false;
}

void BraggVectorMapOp::accumulate(std::vector<double>& hist,
                                  std::uint32_t bins_x,
                                  std::uint32_t bins_y,
                                  double sampling,
                                  std::span<const Peak> peaks,
                                  double shift_qx,
                                  double shift_qy) {
  for (const Peak& pk : peaks) {
    const double qx = (pk.qx + shift_qx) * sampling;
    const double qy = (pk.qy + shift_qy) * sampling;
    if (!std::isfinite(qx) || !std::isfinite(qy)) continue;
    const double fx = std::floor(qx), fy = std::floor(qy);
    const double cx = std::ceil(qx), cy = std::ceil(qy);
    if (fx < 0 || fy < 0 || cx >= bins_x || cy >= bins_y) continue;
    const double dx = qx - fx, dy = qy - fy;
    const std::size_t x0 = std::size_t(fx), y0 = std::size_t(fy);
    const std::size_t x1 = std::size_t(cx), y1 = std::size_t(cy);
    // Four separate adds as py4DSTEM's four bincounts: an integer coordinate (floor = ceil) puts
    // its weights into the same bin, which then sum to the intensity.
    hist[x0 * bins_y + y0] += pk.intensity * (1.0 - dx) * (1.0 - dy);
    hist[x0 * bins_y + y1] += pk.intensity * (1.0 - dx) * dy;
    hist[x1 * bins_y + y0] += pk.intensity * dx * (1.0 - dy);
    hist[x1 * bins_y + y1] += pk.intensity * dx * dy;
  }
}

void BraggVectorMapOp::reduce(const FrameBatch& batch, const ResultStore&) {
  const auto& idx = input_indices();
  const OperatorResults& bragg = batch.results[idx[0]];
  const OperatorResults* origin = idx.size() > 1 ? &batch.results[idx[1]] : nullptr;
  for (std::uint32_t i = 0; i < batch.count; ++i) {
    if (bragg.failed[i]) continue;
    double sx = 0, sy = 0;  // raw peaks without an origin operator (py4DSTEM's mode "raw")
    if (origin) {
      if (origin->failed[i]) continue;
      const auto o = origin->frame_scalars(i);
      if (!std::isfinite(o[0]) || !std::isfinite(o[1])) continue;
      sx = live_cx_ - o[0];
      sy = live_cy_ - o[1];
    }
    accumulate(hist_, bins_x_, bins_y_, p_.sampling, bragg.frame_peaks(i), sx, sy);
    ++frames_;
  }
  dirty_ = true;
}

SeriesImage BraggVectorMapOp::image(std::vector<double> values) const {
  return {"", bins_x_, bins_y_, std::move(values), "intensity", ImageSpace::kDiffraction};
}

std::vector<SeriesImage> BraggVectorMapOp::preview(const ResultStore&) const {
  if (!dirty_) return {};
  return {image(hist_)};
}

std::vector<SeriesImage> BraggVectorMapOp::conclude(const ResultStore& store) {
  const auto& idx = input_indices();
  if (idx.size() < 2) return {image(hist_)};
  // py4DSTEM's calibrated map: the fitted origin where the origin operator has one, centred on
  // its mean (Calibration.get_origin_mean), unless `center` is configured.
  const std::size_t o = idx[1];
  const std::vector<double>* fit[2] = {nullptr, nullptr};
  for (const auto& img : store.series_images(o)) {
    if (img.suffix == "qx0_fit") fit[0] = &img.values;
    if (img.suffix == "qy0_fit") fit[1] = &img.values;
  }
  const auto& h = store.series();
  const std::size_t n = h.scan_size();
  const std::vector<double>& qx0 = fit[0] ? *fit[0] : store.map(o, 0);
  const std::vector<double>& qy0 = fit[1] ? *fit[1] : store.map(o, 1);
  double cx = p_.center_qx, cy = p_.center_qy;
  if (!p_.has_center) {
    double sx = 0, sy = 0;
    std::size_t m = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!std::isfinite(qx0[i]) || !std::isfinite(qy0[i])) continue;
      sx += qx0[i];
      sy += qy0[i];
      ++m;
    }
    if (m == 0) return {image(hist_)};
    cx = sx / double(m);
    cy = sy / double(m);
  }
  std::vector<double> hist(hist_.size(), 0.0);
  const std::size_t b = idx[0];
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(qx0[i]) || !std::isfinite(qy0[i])) continue;
    accumulate(hist, bins_x_, bins_y_, p_.sampling, store.peaks(b, i), cx - qx0[i], cy - qy0[i]);
  }
  return {image(std::move(hist))};
}

}  // namespace stemflow::ops
