// SPDX-License-Identifier: GPL-3.0-or-later
// The dashboard's own copy of the results (the model) and the JSON it sends to browsers.
//
// The sink node never waits for the model: batch_done() copies the changed positions' values into
// a TickInput (bounded, preallocated), and the dashboard's builder thread moves that input into the
// model at a bounded rate (apply()), which appends one delta to the log. Browsers get deltas, or a
// snapshot of the model when they are too far behind; peaks are fetched on demand (peaks_json()).
//
// Wire format (JSON, one line, arrays as base64 of little-endian float32 / uint32):
//   snapshot  {"seq", "epoch", "series": S|null, "maps": [M...], "pattern": P|null, "images":
//   [I...],
//              "status", "history"}
//   delta     {"seq", "reset"?: {"series", "maps", "pattern", "images"}, "pos"?: b64 u32
//              positions, "vals"?: [b64 f32 per map, one value per position], "pattern"?: P,
//              "images"?: [I...] (all of them, replacing), "hist"?: [H...], "status"}
//   S  {"id", "scan": [Rx, Ry], "frame": [Qx, Qy], "dtype", "detector",
//       "operators": [{"name", "type", "params": {...}}], "peaks_operator": name|null}
//   M  {"name", "units", "data": b64 f32 (Rx*Ry, NaN = no result yet)}
//   P  {"rows", "cols", "bin", "frames", "source": "running_mean"|"mean_pattern", "data": b64 f32}
//   H  [unix_ms, received_fps, processed_fps, latency_mean_s, latency_max_s, [drops/s by reason]]
//   I  {"name", "rows", "cols", "space": "real"|"diffraction", "units", "diverging", "final",
//       "data": b64 f32}: the operators' live images (Operator::preview: Bragg vector map,
//       strain maps), replaced by their series-end images; sent whole, so rate-limited by
//       Limits::image_bytes_per_second.
// A reset replaces the series, maps and pattern (a new series, or an ended one that the model had
// not seen start); a delta's positions then apply on top of it.
//
// Single-threaded: the sink serialises all calls with its state mutex.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/core/batch.hpp"
#include "pipeline/core/operator.hpp"
#include "pipeline/core/result_store.hpp"
#include "pipeline/core/series.hpp"
#include "sinks/dashboard/delta_log.hpp"

namespace stemflow::sinks {

//! One per-position map shown by the dashboard: an operator's scalar, or its peak count.
struct MapSource {
  std::string name;
  std::string units;
  std::size_t op = 0;
  std::size_t scalar = 0;
  bool peak_count = false;
};

//! What the dashboard knows about a series: its header and how to read the store.
struct SeriesInfo {
  SeriesHeader header;
  std::vector<OutputInfo> outputs;
  std::vector<MapSource> maps;
  std::optional<std::size_t> peak_op;  // the first operator with peak lists
  std::optional<std::size_t> mean_op;  // an operator giving the mean pattern (the registry says)
};

//! The maps and peaks of the store for `outputs` (names as the HDF5 file has them).
SeriesInfo describe_series(const SeriesHeader& header, const std::vector<OutputInfo>& outputs);

//! A series starting (empty) or ending (its final maps and mean pattern, as the store has them).
struct SeriesPackage {
  SeriesInfo info;
  bool ended = false;
  SeriesEnd end = SeriesEnd::kComplete;
  std::vector<std::vector<float>> values;   // ended: [map][position]
  std::optional<SeriesImage> mean_pattern;  // ended, from a mean_pattern operator
  std::vector<SeriesImage> images;          // ended: the operators' images, suffix = file name
};

struct PeakF {
  float qx, qy, intensity;
};

//! What the sink collected since the builder's last tick. The position buffers are reserved once
//! per series; what does not fit is counted in `skipped` (the series-end package repairs the maps).
struct TickInput {
  std::optional<SeriesPackage> reset;
  std::vector<std::uint32_t> pos;
  std::vector<float> vals;  // pos.size() * maps, position-major
  struct PeakFrame {
    std::uint32_t pos;
    std::uint32_t count;
  };
  std::vector<PeakFrame> peak_frames;
  std::vector<PeakF> peaks;       // peak_frames' peaks, in order
  std::vector<std::byte> sample;  // one frame of the current series, when has_sample
  bool has_sample = false;
  std::vector<SeriesImage> images;  // the operators' live images, suffix = file name
  bool has_images = false;
  std::uint64_t skipped = 0;

  //! Keeps the capacity: the buffers are swapped between the sink and the builder, never freed.
  void clear() {
    reset.reset();
    pos.clear();
    vals.clear();
    peak_frames.clear();
    peaks.clear();
    has_sample = false;
    has_images = false;
    skipped = 0;
  }
};

//! Engine-wide counters, only ever increasing (the sink folds each series' counts in).
struct Totals {
  std::uint64_t received = 0;
  std::uint64_t processed = 0;
  std::array<std::uint64_t, kDropReasonCount> dropped{};
  std::uint64_t batches = 0;
  double latency_sum = 0;  // seconds, over batches
  double latency_max = 0;  // seconds, the largest since the builder last took the totals
};

class DashboardModel {
 public:
  struct Limits {
    std::size_t ring_events = 256;       // deltas kept for resuming clients
    std::size_t ring_bytes = 64u << 20;  // and at most this many bytes of them
    std::size_t history_points = 600;    // graph points kept (5 min at 2 points/s)
    std::chrono::milliseconds history_interval{500};
    std::chrono::milliseconds pattern_interval{1000};
    std::size_t peak_ring = std::size_t{1} << 21;  // peaks kept for hover (12 bytes each)
    std::uint32_t pattern_max_side = 256;          // larger patterns are binned for display
    //! The operators' images are sent whole: at most this many bytes of them per second (a
    //! 32x32 strain map goes out every tick, a 1000x1000 one about once a second).
    std::size_t image_bytes_per_second = std::size_t{16} << 20;
  };

  DashboardModel(std::string epoch, Limits limits);

  //! Moves one tick's input into the model and appends a delta to the log if anything changed or a
  //! history point is due. Returns true if a delta was appended. `totals` are the engine-wide
  //! counters now; their latency_max is the largest since the previous call.
  bool apply(TickInput& in, const Totals& totals, std::chrono::system_clock::time_point now);

  //! The current state as a snapshot event (cached until the next delta).
  DeltaLog::Event snapshot_event();
  const DeltaLog& log() const { return log_; }

  //! {"i", "series", "status": ok|evicted|none|no_peaks, "peaks": [[qx, qy, intensity]...]}
  std::string peaks_json(std::uint64_t position) const;

  // Read access for tests and the page's first state.
  const std::optional<SeriesInfo>& series() const { return info_; }
  const std::vector<float>& map(std::size_t m) const { return maps_[m]; }
  std::uint64_t covered() const { return covered_; }
  std::uint64_t pattern_frames() const { return pattern_frames_; }

 private:
  void reset_series(const SeriesPackage& pkg);
  std::string series_json() const;
  std::string maps_json() const;
  std::string pattern_json() const;
  std::string images_json() const;
  std::string status_json() const;
  std::string history_json(std::size_t from) const;
  void add_sample(const std::vector<std::byte>& frame);
  void set_value(std::size_t m, std::uint32_t pos, float v);

  Limits limits_;
  DeltaLog log_;
  std::optional<SeriesInfo> info_;
  bool ended_ = false;
  SeriesEnd end_ = SeriesEnd::kComplete;
  std::vector<std::vector<float>> maps_;
  std::vector<std::uint8_t> seen_;  // per position: a value arrived
  std::uint64_t covered_ = 0;
  std::uint64_t skipped_ = 0;
  // Peaks of recent positions: a ring of peak_ring peaks; position p's peaks start at the absolute
  // peak number peak_start_[p] and are still held while peak_head_ - start <= peak_ring.
  std::vector<PeakF> peak_ring_;
  std::uint64_t peak_head_ = 0;
  std::vector<std::uint64_t> peak_start_;
  std::vector<std::uint32_t> peak_count_;
  // The mean pattern: a running mean of sampled frames, replaced at the end by the operator's.
  std::vector<double> pattern_sum_;
  std::uint64_t pattern_frames_ = 0;
  std::vector<double> pattern_final_;
  bool pattern_is_final_ = false;
  bool pattern_dirty_ = false;
  std::chrono::system_clock::time_point last_pattern_{};
  // The operators' images (live, then final), replaced whole.
  std::vector<SeriesImage> images_;
  bool images_final_ = false;
  bool images_dirty_ = false;
  std::chrono::system_clock::time_point last_images_{};
  // Graphs.
  std::deque<std::array<double, 5 + kDropReasonCount>> history_;
  std::uint64_t history_total_ = 0;  // points ever taken
  std::chrono::system_clock::time_point last_point_{};
  Totals last_totals_{};
  double window_latency_max_ = 0;
  DeltaLog::Event snapshot_;  // cached for log_.last_seq()
  std::uint64_t snapshot_seq_ = ~std::uint64_t{0};
};

//! Base64 (RFC 4648, with padding) of raw bytes.
std::string base64(const void* data, std::size_t bytes);

}  // namespace stemflow::sinks
