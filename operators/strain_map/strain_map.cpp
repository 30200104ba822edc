// SPDX-License-Identifier: GPL-3.0-or-later
#include "operators/strain_map/strain_map.hpp"

#include <oneapi/tbb/parallel_for.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "operators/origin/least_squares.hpp"
#include "pipeline/core/expected.hpp"
#include "pipeline/core/result_store.hpp"

namespace stemflow::ops {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

//! numpy's median (the mean of the two middle values for an even count) of the finite values.
double median(std::vector<double>& v) {
  std::erase_if(v, [](double x) { return !std::isfinite(x); });
  if (v.empty()) return kNaN;
  const std::size_t h = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + h, v.end());
  const double hi = v[h];
  if (v.size() % 2) return hi;
  return 0.5 * (hi + *std::max_element(v.begin(), v.begin() + h));
}

}  // namespace

LatticeFit fit_lattice(std::span<const Peak> peaks,
                       const std::array<double, 2>& g1,
                       const std::array<double, 2>& g2,
                       double tolerance,
                       std::uint32_t min_peaks) {
  LatticeFit f;
  if (peaks.empty()) return f;
  const Peak* centre = &peaks[0];
  for (const Peak& p : peaks) {
    if (p.intensity > centre->intensity) centre = &p;
  }
  const double det = g1[0] * g2[1] - g1[1] * g2[0];
  const double tol2 = tolerance * tolerance;
  // Up to 256 indexed peaks are kept on the stack: bragg_disks' max_peaks is far below.
  struct Indexed {
    double qx, qy, w;
    int h, k;
  };
  std::array<Indexed, 256> idx;
  std::size_t n = 0;
  NormalEquations<3, 2> ne;
  for (const Peak& p : peaks) {
    const double dx = p.qx - centre->qx, dy = p.qy - centre->qy;
    // Fractional indices, then the nearest of the four lattice points around them.
    const double fh = (dx * g2[1] - dy * g2[0]) / det;
    const double fk = (g1[0] * dy - g1[1] * dx) / det;
    double best = std::numeric_limits<double>::infinity();
    int bh = 0, bk = 0;
    for (double h : {std::floor(fh), std::ceil(fh)}) {
      for (double k : {std::floor(fk), std::ceil(fk)}) {
        const double ex = dx - h * g1[0] - k * g2[0], ey = dy - h * g1[1] - k * g2[1];
        const double d2 = ex * ex + ey * ey;
        if (d2 < best) {
          best = d2;
          bh = int(h);
          bk = int(k);
        }
      }
    }
    if (!(best <= tol2) || n == idx.size()) continue;
    idx[n++] = {p.qx, p.qy, p.intensity, bh, bk};
    // py4DSTEM multiplies the rows by the intensity: least squares weighted by its square.
    ne.add({1.0, double(bh), double(bk)}, {p.qx, p.qy}, p.intensity * p.intensity);
  }
  f.num_peaks = static_cast<std::uint32_t>(n);
  std::array<std::array<double, 2>, 3> x{};
  if (n < min_peaks || n < 3 || !ne.solve(x)) return f;
  f.x0 = x[0][0];
  f.y0 = x[0][1];
  f.g1x = x[1][0];
  f.g1y = x[1][1];
  f.g2x = x[2][0];
  f.g2y = x[2][1];
  double esum = 0, wsum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& q = idx[i];
    const double ex = q.qx - (f.x0 + q.h * f.g1x + q.k * f.g2x);
    const double ey = q.qy - (f.y0 + q.h * f.g1y + q.k * f.g2y);
    esum += std::sqrt(ex * ex + ey * ey) * q.w;
    wsum += q.w;
  }
  f.error = esum / wsum;
  f.ok = std::isfinite(f.g1x) && std::isfinite(f.g1y) && std::isfinite(f.g2x) &&
         std::isfinite(f.g2y) && std::isfinite(f.error);
  return f;
}

std::array<double, 4> strain_from_reference(const std::array<double, 4>& g,
                                            const std::array<double, 4>& ref) {
  // X = M_ref^-1 M (2x2, rows g1, g2), beta = X^T.
  const double a = ref[0], b = ref[1], c = ref[2], d = ref[3];
  const double det = a * d - b * c;
  const double i00 = d / det, i01 = -b / det, i10 = -c / det, i11 = a / det;
  const double x00 = i00 * g[0] + i01 * g[2], x01 = i00 * g[1] + i01 * g[3];
  const double x10 = i10 * g[0] + i11 * g[2], x11 = i10 * g[1] + i11 * g[3];
  const double b00 = x00, b01 = x10, b10 = x01, b11 = x11;
  return {1 - b00, 1 - b11, -(b01 + b10) / 2, (b01 - b10) / 2};
}

StrainMapOp::StrainMapOp(std::string name, StrainMapParams p)
    : Operator(std::move(name)), p_(std::move(p)) {}

std::vector<OperatorInput> StrainMapOp::inputs() const {
  return {{"bragg", p_.bragg_where, p_.bragg, "bragg_disks"}};
}

OutputSpec StrainMapOp::outputs() const {
  return {{{"g1x", "px"},
           {"g1y", "px"},
           {"g2x", "px"},
           {"g2y", "px"},
           {"fit_error", "px"},
           {"num_peaks", "peaks"}},
          0};
}

void StrainMapOp::start(const SeriesHeader& series) {
  series_ = series;
  region_size_ = 0;
  if (const auto& r = p_.reference_region) {
    if ((*r)[1] > series.scan_rows || (*r)[3] > series.scan_cols) {
      throw ConfigError("operator '" + name() + "': reference_region [" + std::to_string((*r)[0]) +
                        ", " + std::to_string((*r)[1]) + ", " + std::to_string((*r)[2]) + ", " +
                        std::to_string((*r)[3]) + "] lies outside the " +
                        std::to_string(series.scan_rows) + "x" + std::to_string(series.scan_cols) +
                        " scan");
    }
    region_size_ = std::uint64_t((*r)[1] - (*r)[0]) * ((*r)[3] - (*r)[2]);
  }
  region_seen_ = 0;
  unfitted_ = 0;
  dirty_ = false;
}

void StrainMapOp::process(const FrameBatch& batch, OperatorResults& out) const {
  const OperatorResults& in = batch.results[input_indices()[0]];
  tbb::parallel_for(tbb::blocked_range<std::uint32_t>(0, batch.count, 16), [&](const auto& r) {
    for (std::uint32_t i = r.begin(); i < r.end(); ++i) {
      auto v = out.frame_scalars(i);
      if (in.failed[i]) {
        out.failed[i] = 1;
        std::fill(v.begin(), v.end(), kNaN);
        continue;
      }
      const LatticeFit f =
          fit_lattice(in.frame_peaks(i), p_.g1, p_.g2, p_.index_tolerance, p_.min_peaks);
      v[0] = f.ok ? f.g1x : kNaN;
      v[1] = f.ok ? f.g1y : kNaN;
      v[2] = f.ok ? f.g2x : kNaN;
      v[3] = f.ok ? f.g2y : kNaN;
      v[4] = f.ok ? f.error : kNaN;
      v[5] = f.num_peaks;
    }
  });
}

void StrainMapOp::reduce(const FrameBatch& batch, const ResultStore&) {
  const auto& r = p_.reference_region;
  for (std::uint32_t i = 0; i < batch.count; ++i) {
    if (!r) continue;
    const std::uint64_t pos = batch.index[i];
    const std::uint64_t rx = pos / series_.scan_cols, ry = pos % series_.scan_cols;
    region_seen_ += rx >= (*r)[0] && rx < (*r)[1] && ry >= (*r)[2] && ry < (*r)[3];
  }
  dirty_ = true;
}

std::size_t StrainMapOp::self(const ResultStore& store) const {
  const auto& outs = store.outputs();
  std::size_t o = 0;
  while (o < outs.size() && outs[o].name != name()) ++o;
  return o;
}

std::array<double, 4> StrainMapOp::reference(const ResultStore& store) const {
  const std::array<double, 4> given{p_.g1[0], p_.g1[1], p_.g2[0], p_.g2[1]};
  const auto& r = p_.reference_region;
  const std::size_t me = self(store);
  if (!r || me == store.outputs().size()) return given;
  std::array<double, 4> ref{};
  for (std::size_t k = 0; k < 4; ++k) {
    std::vector<double> v;
    v.reserve(region_size_);
    const auto& map = store.map(me, k);
    for (std::uint32_t rx = (*r)[0]; rx < (*r)[1]; ++rx) {
      for (std::uint32_t ry = (*r)[2]; ry < (*r)[3]; ++ry) {
        v.push_back(map[std::size_t(rx) * series_.scan_cols + ry]);
      }
    }
    ref[k] = median(v);
    if (!std::isfinite(ref[k])) return given;  // no fitted frame in the region
  }
  return ref;
}

std::vector<SeriesImage> StrainMapOp::strain_images(const ResultStore& store) const {
  const std::size_t me = self(store);
  if (me == store.outputs().size()) return {};
  // The region's median once all its frames are in (or at the end, with what arrived).
  const bool region_ready = p_.reference_region && region_seen_ >= region_size_;
  const std::array<double, 4> ref =
      region_ready ? reference(store)
                   : std::array<double, 4>{p_.g1[0], p_.g1[1], p_.g2[0], p_.g2[1]};
  const std::size_t n = series_.scan_size();
  static constexpr const char* kNames[4] = {"e_xx", "e_yy", "e_xy", "theta"};
  static constexpr const char* kUnits[4] = {"", "", "", "rad"};
  std::vector<SeriesImage> images(4);
  for (std::size_t k = 0; k < 4; ++k) {
    images[k] = {kNames[k],
                 series_.scan_rows,
                 series_.scan_cols,
                 std::vector<double>(n, kNaN),
                 kUnits[k],
                 ImageSpace::kReal,
                 true};
  }
  const auto& g1x = store.map(me, 0);
  const auto& g1y = store.map(me, 1);
  const auto& g2x = store.map(me, 2);
  const auto& g2y = store.map(me, 3);
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(g1x[i])) continue;
    const auto e = strain_from_reference({g1x[i], g1y[i], g2x[i], g2y[i]}, ref);
    for (std::size_t k = 0; k < 4; ++k) images[k].values[i] = e[k];
  }
  return images;
}

std::vector<SeriesImage> StrainMapOp::preview(const ResultStore& store) const {
  if (!dirty_) return {};
  return strain_images(store);
}

std::vector<SeriesImage> StrainMapOp::conclude(const ResultStore& store) {
  const std::size_t me = self(store);
  if (me == store.outputs().size()) return {};
  std::uint64_t unfitted = 0;
  const auto& g1x = store.map(me, 0);
  const auto& cov = store.coverage();
  for (std::size_t i = 0; i < g1x.size(); ++i) unfitted += cov[i] && !std::isfinite(g1x[i]);
  unfitted_ = unfitted;
  if (unfitted > 0) {
    spdlog::info(
        "operator '{}': {} of {} frames could not be fitted (fewer than {} indexed peaks, or "
        "no peaks): NaN in its maps",
        name(),
        unfitted,
        store.frames_processed(),
        p_.min_peaks);
  }
  region_seen_ = region_size_;  // at the end: the region's median over what arrived
  auto images = strain_images(store);
  if (p_.reference_region) {
    const auto ref = reference(store);
    spdlog::info("operator '{}': reference lattice g1 = [{:.4f}, {:.4f}], g2 = [{:.4f}, {:.4f}] px",
                 name(),
                 ref[0],
                 ref[1],
                 ref[2],
                 ref[3]);
  }
  return images;
}

}  // namespace stemflow::ops
