// SPDX-License-Identifier: GPL-3.0-or-later
// Test support for the operators that read other operators' results: the real engine over a
// series held in test memory (VectorSource), a stand-in bragg_disks operator that gives recorded
// peaks (py4DSTEM's own, from ../shared), and an observer that keeps the final maps and images.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "operators/gpu/placement.hpp"
#include "operators/registry.hpp"
#include "pipeline/engine.hpp"

namespace stemflow::test {

//! Peaks per scan position (row-major index).
using PeakTable = std::vector<std::vector<Peak>>;

//! A reference peaks CSV (rx, ry, i, qx, qy, intensity) as a table of `rows` x `cols` positions.
inline PeakTable read_peaks_csv(const std::string& path, std::uint32_t rows, std::uint32_t cols) {
  PeakTable t(std::size_t(rows) * cols);
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string f[6];
    for (auto& x : f) std::getline(s, x, ',');
    t[std::stoul(f[0]) * cols + std::stoul(f[1])].push_back(
        {std::stod(f[3]), std::stod(f[4]), std::stod(f[5])});
  }
  return t;
}

//! Stands in for a bragg_disks operator (same type name): gives the recorded peaks of each frame.
class RecordedBraggOp final : public Operator {
 public:
  RecordedBraggOp(std::string name, const PeakTable& peaks, std::uint32_t max_peaks = 64)
      : Operator(std::move(name)), peaks_(peaks), max_peaks_(max_peaks) {}
  std::string_view type() const override { return "bragg_disks"; }
  void start(const SeriesHeader&) override {}
  OutputSpec outputs() const override { return {{{"count", ""}}, max_peaks_}; }
  void process(const FrameBatch& b, OperatorResults& out) const override {
    for (std::uint32_t i = 0; i < b.count; ++i) {
      const auto& p = peaks_[b.index[i]];
      const std::uint32_t n = std::min<std::uint32_t>(p.size(), max_peaks_);
      std::copy(p.begin(), p.begin() + n, out.frame_peaks(i).begin());
      out.peak_counts[i] = n;
      out.frame_scalars(i)[0] = n;
    }
  }

 private:
  const PeakTable& peaks_;
  std::uint32_t max_peaks_;
};

//! Stands in for a center_of_mass operator (same type name): gives recorded qx, qy per position.
class RecordedComOp final : public Operator {
 public:
  //! `delay` per batch: a scan that lasts long enough for live work to come back.
  RecordedComOp(std::string name,
                const std::vector<double>& qx,
                const std::vector<double>& qy,
                std::chrono::milliseconds delay = {})
      : Operator(std::move(name)), qx_(qx), qy_(qy), delay_(delay) {}
  std::string_view type() const override { return "center_of_mass"; }
  void start(const SeriesHeader&) override {}
  OutputSpec outputs() const override {
    return {{{"qx", "px"}, {"qy", "px"}, {"intensity", "counts"}}, 0};
  }
  void process(const FrameBatch& b, OperatorResults& out) const override {
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
    for (std::uint32_t i = 0; i < b.count; ++i) {
      auto v = out.frame_scalars(i);
      v[0] = qx_[b.index[i]];
      v[1] = qy_[b.index[i]];
      v[2] = 1.0;
    }
  }

 private:
  const std::vector<double>& qx_;
  const std::vector<double>& qy_;
  std::chrono::milliseconds delay_;
};

//! One series from test memory: frames (optional pixels) in scan order, in batches of the pool.
class VectorSource final : public Source {
 public:
  VectorSource(BatchPool& pool, SeriesHeader h, const std::vector<std::uint16_t>* pixels)
      : pool_(pool), h_(std::move(h)), pixels_(pixels) {}
  SourceStatus next() override {
    if (state_ == 0) {
      state_ = 1;
      counts_.frames_announced = h_.scan_size();
      return SourceStatus::kSeriesStarted;
    }
    if (state_ == 2) return SourceStatus::kFinished;
    if (next_ == h_.scan_size()) {
      state_ = 2;
      return SourceStatus::kSeriesEnded;
    }
    FrameBatch* b = pool_.acquire(std::chrono::milliseconds(100));
    if (!b) return SourceStatus::kIdle;
    b->series = &h_;
    b->count = 0;
    while (b->count < b->capacity && next_ < h_.scan_size()) {
      if (pixels_) {
        std::memcpy(
            b->frame_data(b->count), pixels_->data() + next_ * h_.frame_pixels(), h_.frame_bytes());
      }
      b->index[b->count++] = next_++;
      ++counts_.frames_received;
      ++counts_.frames_accepted;
    }
    b->first_arrival = std::chrono::steady_clock::now();
    ready_ = b;
    return SourceStatus::kBatchReady;
  }
  const SeriesHeader& header() const override { return h_; }
  FrameBatch* take_batch() override { return std::exchange(ready_, nullptr); }
  const SeriesCounts& counts() const override { return counts_; }
  void reject_series() override { state_ = 2; }
  std::string describe() const override { return "test memory"; }

 private:
  BatchPool& pool_;
  SeriesHeader h_;
  const std::vector<std::uint16_t>* pixels_;
  int state_ = 0;
  std::uint64_t next_ = 0;
  FrameBatch* ready_ = nullptr;
  SeriesCounts counts_;
};

//! What a run left: every map and image by its file name (<operator>_<suffix>).
struct Captured {
  std::map<std::string, std::vector<double>> maps;
  std::map<std::string, SeriesImage> images;
  std::map<std::string, SeriesImage> last_live;  // the last live images seen during the scan
  std::size_t live_updates = 0;                  // batch_done calls that saw new live images
  std::uint64_t frames = 0;
};

class CaptureObserver final : public Observer {
 public:
  explicit CaptureObserver(Captured& c) : c_(c) {}
  std::string_view name() const override { return "capture"; }
  void series_started(const ResultStore&, const Provenance&) override {}
  void batch_done(const FrameBatch&, const ResultStore& store) override {
    if (store.live_generation() == seen_) return;
    seen_ = store.live_generation();
    ++c_.live_updates;
    for (std::size_t o = 0; o < store.outputs().size(); ++o) {
      for (const auto& img : store.live_images(o)) {
        c_.last_live[store.outputs()[o].name + "_" + img.suffix] = img;
      }
    }
  }
  Expected<std::string> series_ended(const ResultStore& store, const Provenance&) override {
    for (std::size_t o = 0; o < store.outputs().size(); ++o) {
      const auto& out = store.outputs()[o];
      for (std::size_t k = 0; k < out.spec.scalars.size(); ++k) {
        const auto& s = out.spec.scalars[k].suffix;
        c_.maps[s.empty() ? out.name : out.name + "_" + s] = store.map(o, k);
      }
      for (const auto& img : store.series_images(o)) {
        c_.images[img.suffix.empty() ? out.name : out.name + "_" + img.suffix] = img;
      }
    }
    c_.frames = store.frames_processed();
    return std::string("captured");
  }

 private:
  Captured& c_;
  std::uint64_t seen_ = 0;
};

//! The operators of `toml` ([[operators]] tables), after `first` (e.g. a RecordedBraggOp).
inline std::vector<std::unique_ptr<Operator>> build_operators(
    const std::string& toml, std::vector<std::unique_ptr<Operator>> first = {}) {
  const auto config =
      config::Config::parse("[input]\nendpoint = \"tcp://127.0.0.1:5555\"\n" + toml, "test.toml");
  auto ops = std::move(first);
  for (const auto& oc : config.operators()) ops.push_back(ops::make_operator(oc, config).op);
  return ops;
}

//! Runs one series through the real engine (CPU placement) and returns what it left.
inline Captured run_engine(std::vector<std::unique_ptr<Operator>> ops,
                           const SeriesHeader& h,
                           const std::vector<std::uint16_t>* pixels = nullptr,
                           std::uint32_t batch_frames = 16,
                           double preview_interval_s = 0) {
  Captured c;
  EngineParts parts;
  for (const auto& op : ops) parts.outputs.push_back({op->name(), std::string(op->type()), {}, {}});
  parts.operators = std::move(ops);
  parts.make_placement = [](const std::vector<std::unique_ptr<Operator>>& o) {
    return std::make_unique<gpu::Placement>(gpu::DeviceChoice{}, o);
  };
  parts.memory_limit = std::size_t(64) << 20;
  parts.make_source = [h, pixels](BatchPool& pool) {
    return std::make_unique<VectorSource>(pool, h, pixels);
  };
  parts.observers.push_back(std::make_unique<CaptureObserver>(c));
  parts.batch_frames = batch_frames;
  parts.threads = 2;
  parts.preview_interval_s = preview_interval_s;
  Engine engine(std::move(parts));
  EXPECT_EQ(engine.run(1), 0);
  return c;
}

}  // namespace stemflow::test
