// SPDX-License-Identifier: GPL-3.0-or-later
#include "sinks/dashboard/dashboard_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "operators/registry.hpp"

namespace stemflow::sinks {

namespace {

constexpr std::uint64_t kNoPeaks = ~std::uint64_t{0};
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

std::string b64_floats(const std::vector<float>& v) {
  return base64(v.data(), v.size() * sizeof(float));
}

bool same_bits(float a, float b) {
  std::uint32_t x = 0, y = 0;
  std::memcpy(&x, &a, sizeof x);
  std::memcpy(&y, &b, sizeof y);
  return x == y;
}

// JSON numbers must be finite; graphs read a missing value as 0.
std::string num(double v) {
  if (!std::isfinite(v)) return "0";
  char buf[32];
  const auto n = std::snprintf(buf, sizeof buf, "%.7g", v);
  return std::string(buf, static_cast<std::size_t>(n));
}

double seconds(std::chrono::system_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

std::string base64(const void* data, std::size_t bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out;
  out.resize((bytes + 2) / 3 * 4);
  std::size_t o = 0, i = 0;
  for (; i + 3 <= bytes; i += 3) {
    const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
    out[o++] = kAlphabet[v >> 18];
    out[o++] = kAlphabet[(v >> 12) & 63];
    out[o++] = kAlphabet[(v >> 6) & 63];
    out[o++] = kAlphabet[v & 63];
  }
  if (i < bytes) {
    std::uint32_t v = std::uint32_t{p[i]} << 16;
    if (i + 1 < bytes) v |= std::uint32_t{p[i + 1]} << 8;
    out[o++] = kAlphabet[v >> 18];
    out[o++] = kAlphabet[(v >> 12) & 63];
    out[o++] = i + 1 < bytes ? kAlphabet[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  return out;
}

SeriesInfo describe_series(const SeriesHeader& header, const std::vector<OutputInfo>& outputs) {
  SeriesInfo info;
  info.header = header;
  info.outputs = outputs;
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    const auto& out = outputs[o];
    const auto& scalars = out.spec.scalars;
    for (std::size_t k = 0; k < scalars.size(); ++k) {
      // The names the HDF5 file uses, so that what a user sees live is what they find in the file.
      MapSource m;
      m.name = scalars[k].suffix.empty() ? out.name : out.name + "_" + scalars[k].suffix;
      m.units = scalars[k].units;
      m.op = o;
      m.scalar = k;
      info.maps.push_back(std::move(m));
    }
    // A peak operator that does not already give its count per position gets a count map here.
    if (out.spec.max_peaks > 0 && scalars.empty()) {
      MapSource m;
      m.name = out.name + "_peak_count";
      m.units = "peaks";
      m.op = o;
      m.peak_count = true;
      info.maps.push_back(std::move(m));
    }
    if (out.spec.max_peaks > 0 && !info.peak_op) info.peak_op = o;
    if (!info.mean_op) {
      const auto* type = ops::find_operator_type(out.type);
      if (type != nullptr && type->gives_mean_pattern) info.mean_op = o;
    }
  }
  return info;
}

DashboardModel::DashboardModel(std::string epoch, Limits limits)
    : limits_(limits),
      log_(std::move(epoch), limits.ring_events, limits.ring_bytes),
      last_pattern_(std::chrono::system_clock::now()),
      last_point_(std::chrono::system_clock::now()) {}

void DashboardModel::reset_series(const SeriesPackage& pkg) {
  info_ = pkg.info;
  ended_ = pkg.ended;
  end_ = pkg.end;
  const std::size_t n = info_->header.scan_size();
  maps_.assign(info_->maps.size(), std::vector<float>(n, kNaN));
  seen_.assign(n, 0);
  covered_ = 0;
  skipped_ = 0;
  if (pkg.ended) {
    for (std::size_t m = 0; m < maps_.size() && m < pkg.values.size(); ++m) {
      if (pkg.values[m].size() == n) maps_[m] = pkg.values[m];
    }
    // An ended series seen only at its end: every position with a value counts as covered.
    for (std::size_t p = 0; p < n; ++p) {
      for (const auto& mv : maps_) {
        if (!std::isnan(mv[p])) {
          seen_[p] = 1;
          ++covered_;
          break;
        }
      }
    }
  }
  images_ = pkg.images;
  images_final_ = pkg.ended;
  images_dirty_ = false;
  peak_start_.assign(info_->peak_op ? n : 0, kNoPeaks);
  peak_count_.assign(info_->peak_op ? n : 0, 0);
  peak_head_ = 0;
  if (info_->peak_op) {
    const std::uint64_t want = std::min<std::uint64_t>(
        limits_.peak_ring,
        n * std::max<std::uint32_t>(1, info_->outputs[*info_->peak_op].spec.max_peaks));
    peak_ring_.assign(static_cast<std::size_t>(std::max<std::uint64_t>(want, 1)), PeakF{});
  } else {
    peak_ring_.clear();
  }
  pattern_sum_.assign(info_->header.frame_pixels(), 0.0);
  pattern_frames_ = 0;
  pattern_final_.clear();
  pattern_is_final_ = false;
  pattern_dirty_ = false;
  if (pkg.mean_pattern && pkg.mean_pattern->rows == info_->header.frame_rows &&
      pkg.mean_pattern->cols == info_->header.frame_cols) {
    pattern_final_ = pkg.mean_pattern->values;
    pattern_is_final_ = true;
  }
}

void DashboardModel::set_value(std::size_t m, std::uint32_t pos, float v) {
  maps_[m][pos] = v;
  if (!seen_[pos]) {
    seen_[pos] = 1;
    ++covered_;
  }
}

void DashboardModel::add_sample(const std::vector<std::byte>& frame) {
  const auto& h = info_->header;
  if (frame.size() != h.frame_bytes() || pattern_sum_.size() != h.frame_pixels()) return;
  visit_dtype(h.dtype, [&]<class PixelT>() {
    const auto* px = reinterpret_cast<const PixelT*>(frame.data());
    for (std::size_t i = 0; i < pattern_sum_.size(); ++i) pattern_sum_[i] += double(px[i]);
  });
  ++pattern_frames_;
  pattern_dirty_ = true;
}

bool DashboardModel::apply(TickInput& in,
                           const Totals& totals,
                           std::chrono::system_clock::time_point now) {
  std::string reset_part;
  std::vector<std::uint32_t> out_pos;
  if (in.reset) {
    const SeriesPackage& pkg = *in.reset;
    const bool same = info_ && !ended_ && pkg.ended &&
                      info_->header.series_id == pkg.info.header.series_id &&
                      info_->header.scan_size() == pkg.info.header.scan_size() &&
                      info_->maps.size() == pkg.values.size();
    if (same) {
      // The series we have been showing ended: send only what the live deltas missed (positions
      // skipped when the input was full), and the exact mean pattern if an operator made one.
      const std::size_t n = info_->header.scan_size();
      for (std::size_t p = 0; p < n; ++p) {
        for (std::size_t m = 0; m < maps_.size(); ++m) {
          if (pkg.values[m].size() == n && !same_bits(pkg.values[m][p], maps_[m][p])) {
            out_pos.push_back(static_cast<std::uint32_t>(p));
            break;
          }
        }
      }
      ended_ = true;
      end_ = pkg.end;
      if (pkg.mean_pattern && pkg.mean_pattern->rows == info_->header.frame_rows &&
          pkg.mean_pattern->cols == info_->header.frame_cols) {
        pattern_final_ = pkg.mean_pattern->values;
        pattern_is_final_ = true;
        pattern_dirty_ = true;
      }
      for (auto p : out_pos) {
        for (std::size_t m = 0; m < maps_.size(); ++m) set_value(m, p, pkg.values[m][p]);
      }
      images_ = pkg.images;
      images_final_ = true;
      images_dirty_ = true;
    } else {
      reset_series(pkg);
      reset_part = "{\"series\":" + series_json() + ",\"maps\":" + maps_json() +
                   ",\"pattern\":" + pattern_json() + ",\"images\":" + images_json() + "}";
      pattern_dirty_ = false;
    }
  }
  skipped_ += in.skipped;

  if (info_) {
    const std::size_t n = info_->header.scan_size();
    const std::size_t nm = maps_.size();
    if (in.vals.size() == in.pos.size() * nm) {
      for (std::size_t i = 0; i < in.pos.size(); ++i) {
        const auto p = in.pos[i];
        if (p >= n) continue;
        for (std::size_t m = 0; m < nm; ++m) set_value(m, p, in.vals[i * nm + m]);
        out_pos.push_back(p);
      }
    }
    if (!peak_ring_.empty()) {
      std::size_t k = 0;
      for (const auto& f : in.peak_frames) {
        if (f.pos < n && k + f.count <= in.peaks.size()) {
          const std::uint32_t keep =
              static_cast<std::uint32_t>(std::min<std::size_t>(f.count, peak_ring_.size()));
          const std::size_t first = k + f.count - keep;
          peak_start_[f.pos] = peak_head_;
          peak_count_[f.pos] = keep;
          for (std::size_t j = 0; j < keep; ++j) {
            peak_ring_[peak_head_++ % peak_ring_.size()] = in.peaks[first + j];
          }
        }
        k += f.count;
      }
    }
    if (in.has_sample && !pattern_is_final_) add_sample(in.sample);
    if (in.has_images && !images_final_) {
      std::swap(images_, in.images);  // the sink reuses the old buffers
      images_dirty_ = true;
    }
  }

  std::string pattern_part;
  if (info_ && pattern_dirty_ &&
      (pattern_is_final_ || now - last_pattern_ >= limits_.pattern_interval)) {
    pattern_part = pattern_json();
    pattern_dirty_ = false;
    last_pattern_ = now;
  }

  // Whole images: small ones every tick (the strain map within one update interval of its
  // frames), large ones as often as image_bytes_per_second allows (a 1000x1000 map is 4 MB).
  std::string images_part;
  std::size_t image_bytes = 0;
  for (const auto& img : images_) image_bytes += img.values.size() * sizeof(float);
  const auto image_gap =
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(
          double(image_bytes) / double(std::max<std::size_t>(1, limits_.image_bytes_per_second))));
  if (info_ && images_dirty_ && (images_final_ || now - last_images_ >= image_gap)) {
    images_part = images_json();
    images_dirty_ = false;
    last_images_ = now;
  }

  std::string hist_part;
  if (now - last_point_ < limits_.history_interval) {
    window_latency_max_ = std::max(window_latency_max_, totals.latency_max);
  } else {
    const double dt = std::max(1e-3, seconds(now - last_point_));
    std::array<double, 5 + kDropReasonCount> pt{};
    pt[0] = std::chrono::duration<double, std::milli>(now.time_since_epoch()).count();
    pt[1] = double(totals.received - last_totals_.received) / dt;
    pt[2] = double(totals.processed - last_totals_.processed) / dt;
    const auto batches = totals.batches - last_totals_.batches;
    pt[3] = batches ? (totals.latency_sum - last_totals_.latency_sum) / double(batches) : 0.0;
    window_latency_max_ = std::max(window_latency_max_, totals.latency_max);
    pt[4] = window_latency_max_;
    for (std::size_t r = 0; r < kDropReasonCount; ++r) {
      pt[5 + r] = double(totals.dropped[r] - last_totals_.dropped[r]) / dt;
    }
    window_latency_max_ = 0;
    last_totals_ = totals;
    last_point_ = now;
    history_.push_back(pt);
    ++history_total_;
    while (history_.size() > limits_.history_points) history_.pop_front();
    hist_part = history_json(history_.size() - 1);
  }

  if (reset_part.empty() && out_pos.empty() && pattern_part.empty() && images_part.empty() &&
      hist_part.empty())
    return false;

  std::string js;
  js.reserve(256 + out_pos.size() * (maps_.size() + 1) * 6);
  js += "{\"seq\":" + std::to_string(log_.next_seq());
  if (!reset_part.empty()) js += ",\"reset\":" + reset_part;
  if (!out_pos.empty()) {
    js += ",\"pos\":\"" + base64(out_pos.data(), out_pos.size() * sizeof(std::uint32_t)) + "\"";
    js += ",\"vals\":[";
    std::vector<float> col(out_pos.size());
    for (std::size_t m = 0; m < maps_.size(); ++m) {
      for (std::size_t i = 0; i < out_pos.size(); ++i) col[i] = maps_[m][out_pos[i]];
      js += (m ? ",\"" : "\"") + b64_floats(col) + "\"";
    }
    js += "]";
  }
  if (!pattern_part.empty()) js += ",\"pattern\":" + pattern_part;
  if (!images_part.empty()) js += ",\"images\":" + images_part;
  if (!hist_part.empty()) js += ",\"hist\":" + hist_part;
  js += ",\"status\":" + status_json() + "}";
  log_.append(js);
  return true;
}

std::string DashboardModel::series_json() const {
  if (!info_) return "null";
  const auto& h = info_->header;
  nlohmann::json s;
  s["id"] = h.series_id;
  s["scan"] = {h.scan_rows, h.scan_cols};
  s["frame"] = {h.frame_rows, h.frame_cols};
  s["dtype"] = std::string(dtype_name(h.dtype));
  s["detector"] = h.detector;
  s["operators"] = nlohmann::json::array();
  for (const auto& out : info_->outputs) {
    nlohmann::json params = nlohmann::json::object();
    for (const auto& [k, v] : out.parameters) params[k] = v;
    s["operators"].push_back({{"name", out.name},
                              {"type", out.type},
                              {"params", params},
                              {"max_peaks", out.spec.max_peaks}});
  }
  s["peaks_operator"] = info_->peak_op ? nlohmann::json(info_->outputs[*info_->peak_op].name)
                                       : nlohmann::json(nullptr);
  s["mean_operator"] = info_->mean_op ? nlohmann::json(info_->outputs[*info_->mean_op].name)
                                      : nlohmann::json(nullptr);
  return s.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string DashboardModel::maps_json() const {
  if (!info_) return "[]";
  std::string js = "[";
  for (std::size_t m = 0; m < info_->maps.size(); ++m) {
    nlohmann::json head = {{"name", info_->maps[m].name}, {"units", info_->maps[m].units}};
    std::string h = head.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    h.pop_back();  // reopen the object to add the (large) data without copying it through json
    js += (m ? "," : "") + h + ",\"data\":";
    js += covered_ == 0 ? std::string("null") : "\"" + b64_floats(maps_[m]) + "\"";
    js += "}";
  }
  return js + "]";
}

std::string DashboardModel::pattern_json() const {
  if (!info_) return "null";
  const auto& h = info_->header;
  const std::vector<double>* src = nullptr;
  double scale = 1.0;
  if (pattern_is_final_) {
    src = &pattern_final_;
  } else if (pattern_frames_ > 0) {
    src = &pattern_sum_;
    scale = 1.0 / double(pattern_frames_);
  } else {
    return "null";
  }
  const std::uint32_t side = std::max(h.frame_rows, h.frame_cols);
  const std::uint32_t max_side = std::max<std::uint32_t>(1, limits_.pattern_max_side);
  const std::uint32_t bin = (side + max_side - 1) / max_side;
  const std::uint32_t rows = h.frame_rows / bin, cols = h.frame_cols / bin;
  std::vector<float> out(std::size_t{rows} * cols);
  for (std::uint32_t r = 0; r < rows; ++r) {
    for (std::uint32_t c = 0; c < cols; ++c) {
      double s = 0;
      for (std::uint32_t i = 0; i < bin; ++i) {
        for (std::uint32_t j = 0; j < bin; ++j) {
          s += (*src)[std::size_t{r * bin + i} * h.frame_cols + c * bin + j];
        }
      }
      out[std::size_t{r} * cols + c] = float(s * scale / double(bin * bin));
    }
  }
  return "{\"rows\":" + std::to_string(rows) + ",\"cols\":" + std::to_string(cols) +
         ",\"bin\":" + std::to_string(bin) + ",\"frames\":" + std::to_string(pattern_frames_) +
         ",\"source\":\"" + (pattern_is_final_ ? "mean_pattern" : "running_mean") +
         "\",\"data\":\"" + b64_floats(out) + "\"}";
}

std::string DashboardModel::images_json() const {
  std::string s = "[";
  std::vector<float> data;
  for (std::size_t i = 0; i < images_.size(); ++i) {
    const auto& img = images_[i];
    if (img.values.size() != std::size_t{img.rows} * img.cols) continue;
    data.assign(img.values.begin(), img.values.end());
    s += (s.size() > 1 ? "," : "");
    s += "{\"name\":" + nlohmann::json(img.suffix).dump() +
         ",\"rows\":" + std::to_string(img.rows) + ",\"cols\":" + std::to_string(img.cols) +
         ",\"space\":\"" + (img.space == ImageSpace::kReal ? "real" : "diffraction") +
         "\",\"units\":" + nlohmann::json(img.units).dump() +
         ",\"diverging\":" + (img.diverging ? "true" : "false") +
         ",\"final\":" + (images_final_ ? "true" : "false") + ",\"data\":\"" + b64_floats(data) +
         "\"}";
  }
  return s + "]";
}

std::string DashboardModel::status_json() const {
  std::string s = "{\"state\":\"";
  s += !info_ ? "waiting" : ended_ ? "ended" : "running";
  s += "\",\"series\":" + (info_ ? std::to_string(info_->header.series_id) : std::string("null"));
  s += ",\"covered\":" + std::to_string(covered_);
  s += ",\"positions\":" + std::to_string(info_ ? info_->header.scan_size() : 0);
  s += ",\"skipped\":" + std::to_string(skipped_);
  s += ",\"end\":";
  s += info_ && ended_ ? "\"" + std::string(series_end_name(end_)) + "\"" : std::string("null");
  s += ",\"drop_reasons\":[";
  for (std::size_t r = 0; r < kDropReasonCount; ++r) {
    s += (r ? ",\"" : "\"") + std::string(drop_reason_name(static_cast<DropReason>(r))) + "\"";
  }
  return s + "]}";
}

std::string DashboardModel::history_json(std::size_t from) const {
  std::string s = "[";
  for (std::size_t i = from; i < history_.size(); ++i) {
    const auto& p = history_[i];
    s += i > from ? ",[" : "[";
    s += std::to_string(std::llround(p[0]));  // unix ms: %g would round it to 10 s
    for (std::size_t k = 1; k < 5; ++k) s += "," + num(p[k]);
    s += ",[";
    for (std::size_t r = 0; r < kDropReasonCount; ++r) s += (r ? "," : "") + num(p[5 + r]);
    s += "]]";
  }
  return s + "]";
}

DeltaLog::Event DashboardModel::snapshot_event() {
  if (snapshot_ && snapshot_seq_ == log_.last_seq()) return snapshot_;
  std::string js = "{\"seq\":" + std::to_string(log_.last_seq()) + ",\"epoch\":\"" + log_.epoch() +
                   "\",\"series\":" + series_json() + ",\"maps\":" + maps_json() +
                   ",\"pattern\":" + pattern_json() + ",\"images\":" + images_json() +
                   ",\"status\":" + status_json() + ",\"history\":" + history_json(0) + "}";
  snapshot_ = std::make_shared<const std::string>(
      format_sse(log_.epoch(), log_.last_seq(), "snapshot", js));
  snapshot_seq_ = log_.last_seq();
  return snapshot_;
}

std::string DashboardModel::peaks_json(std::uint64_t position) const {
  std::string s = "{\"i\":" + std::to_string(position) + ",\"series\":" +
                  (info_ ? std::to_string(info_->header.series_id) : std::string("null"));
  auto done = [&](const char* status) {
    return s + ",\"status\":\"" + status + "\",\"peaks\":[]}";
  };
  if (!info_ || position >= info_->header.scan_size()) return done("none");
  if (!info_->peak_op) return done("no_peaks");
  const std::uint64_t start = peak_start_[position];
  if (start == kNoPeaks) return done("none");
  const std::uint32_t count = peak_count_[position];
  if (peak_head_ - start > peak_ring_.size()) return done("evicted");
  s += ",\"status\":\"ok\",\"peaks\":[";
  for (std::uint32_t j = 0; j < count; ++j) {
    const PeakF& p = peak_ring_[(start + j) % peak_ring_.size()];
    s += (j ? ",[" : "[") + num(p.qx) + "," + num(p.qy) + "," + num(p.intensity) + "]";
  }
  return s + "]}";
}

}  // namespace stemflow::sinks
