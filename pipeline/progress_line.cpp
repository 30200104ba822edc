// SPDX-License-Identifier: GPL-3.0-or-later
#include "pipeline/progress_line.hpp"

#include <fmt/format.h>

#include <chrono>

namespace stemflow {

namespace {
std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string duration(double s) {
  const auto t = static_cast<std::int64_t>(s + 0.5);
  if (t >= 3600) return fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
  return fmt::format("{}:{:02}", t / 60, t % 60);
}
}  // namespace

ProgressLine::ProgressLine(std::FILE* out, std::chrono::milliseconds interval)
    : out_(out), interval_(interval) {
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!cv_.wait_for(lock, interval_, [&] { return quit_; })) {
      if (active_.load()) paint(false);
    }
  });
}

ProgressLine::~ProgressLine() {
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ProgressLine::series_started(const ResultStore& store, const Provenance&) {
  total_ = store.series().scan_size();
  processed_ = 0;
  dropped_ = 0;
  ++series_;
  t0_ns_ = now_ns();
  active_ = true;
}

void ProgressLine::batch_done(const FrameBatch&, const ResultStore& store) {
  processed_ = store.frames_processed();
}

Expected<std::string> ProgressLine::series_ended(const ResultStore& store, const Provenance&) {
  processed_ = store.frames_processed();
  {
    std::lock_guard lock(mutex_);  // not while the thread paints
    active_ = false;
    paint(true);
  }
  return std::string("progress line");
}

void ProgressLine::source_counts(const SeriesCounts& series, bool in_series, const SeriesCounts&) {
  if (in_series) dropped_ = series.dropped_total();
}

std::string ProgressLine::line() const {
  const double s = double(now_ns() - t0_ns_.load()) * 1e-9;
  const std::uint64_t n = processed_.load(), total = total_.load();
  const double fps = s > 0 ? double(n) / s : 0.0;
  const std::string eta = fps > 0 && total > n ? duration(double(total - n) / fps) : "-";
  return fmt::format("series {}: {}/{} frames ({:.0f} %), {:.0f} frames/s, ETA {}, dropped {}",
                     series_.load(),
                     n,
                     total,
                     total > 0 ? 100.0 * double(n) / double(total) : 0.0,
                     fps,
                     eta,
                     dropped_.load());
}

void ProgressLine::paint(bool final) {
  // \r and "erase to the end of the line": the line is repainted in place.
  std::fputs(("\r\033[K" + line() + (final ? "\n" : "")).c_str(), out_);
  std::fflush(out_);
}

}  // namespace stemflow
