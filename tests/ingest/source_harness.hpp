// SPDX-License-Identifier: GPL-3.0-or-later
// Test support for sources: runs a Source as the engine would (configures the pool at each series
// start, takes batches, gives the slots back) and keeps what arrived, per series.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ingest/source.hpp"
#include "pipeline/core/batch_pool.hpp"

namespace stemflow::test {

struct ReceivedSeries {
  SeriesHeader header;
  SeriesCounts counts;
  std::vector<std::uint8_t> pixels;    // scan_size * frame_bytes, zero where nothing arrived
  std::vector<std::uint8_t> coverage;  // 1 where a frame arrived
  std::uint64_t frames = 0;            // frames in batches (a frame twice counts twice)
  std::uint64_t batches = 0;

  const std::uint8_t* frame(std::uint64_t i) const {
    return pixels.data() + i * header.frame_bytes();
  }
};

//! STEMFLOW_TEST_TIME_SCALE (at least 1, default 1) stretches the receivers' silence timeouts and
//! drain's deadline: under ThreadSanitizer (make test-tsan) the senders run many times slower, and
//! a receiver ended series for a silence that was only the sanitizer's.
inline std::chrono::milliseconds scaled(std::chrono::milliseconds t) {
  static const double scale = [] {
    const char* v = std::getenv("STEMFLOW_TEST_TIME_SCALE");
    const double x = v ? std::atof(v) : 1.0;
    return x > 1.0 ? x : 1.0;
  }();
  return std::chrono::milliseconds(static_cast<std::int64_t>(double(t.count()) * scale));
}

//! Drives `src` until it finishes, `max_series` series have ended, or `timeout` passes.
inline std::vector<ReceivedSeries> drain(
    ingest::Source& src,
    BatchPool& pool,
    std::size_t max_series,
    std::chrono::milliseconds timeout = std::chrono::seconds(60),
    std::uint32_t batch_frames = 16) {
  std::vector<ReceivedSeries> out;
  const auto t0 = std::chrono::steady_clock::now();
  bool in_series = false;
  while (std::chrono::steady_clock::now() - t0 < scaled(timeout)) {
    const auto s = src.next();
    if (s == ingest::SourceStatus::kSeriesStarted) {
      ReceivedSeries r;
      r.header = src.header();
      pool.configure(r.header, batch_frames, {});
      r.pixels.assign(r.header.scan_size() * r.header.frame_bytes(), 0);
      r.coverage.assign(r.header.scan_size(), 0);
      out.push_back(std::move(r));
      in_series = true;
    } else if (s == ingest::SourceStatus::kBatchReady) {
      FrameBatch* b = src.take_batch();
      auto& r = out.back();
      ++r.batches;
      for (std::uint32_t i = 0; i < b->count; ++i) {
        std::memcpy(
            r.pixels.data() + b->index[i] * b->frame_bytes, b->frame_data(i), b->frame_bytes);
        r.coverage[b->index[i]] = 1;
        ++r.frames;
      }
      pool.release(b);
    } else if (s == ingest::SourceStatus::kSeriesEnded) {
      out.back().counts = src.counts();
      in_series = false;
      if (out.size() >= max_series) break;
    } else if (s == ingest::SourceStatus::kFinished) {
      break;
    }
  }
  if (in_series) out.back().counts = src.counts();
  return out;
}

}  // namespace stemflow::test
