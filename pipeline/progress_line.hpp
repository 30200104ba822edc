// SPDX-License-Identifier: GPL-3.0-or-later
// The command line's progress line: an Observer that, on a terminal, repaints one stderr line twice
// a second (frames processed of the scan, frames/s, ETA, drops) from a thread of its own. Its hooks
// only update atomics (a lossy observer: it never holds the pipeline). `stemflow run` adds it only
// when stderr is a terminal, so a log file or a pipe gets none.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <thread>

#include "pipeline/core/observer.hpp"

namespace stemflow {

class ProgressLine final : public Observer {
 public:
  //! Writes to `out` (stderr) every `interval`.
  explicit ProgressLine(std::FILE* out,
                        std::chrono::milliseconds interval = std::chrono::milliseconds(500));
  ~ProgressLine() override;

  std::string_view name() const override { return "progress"; }
  void series_started(const ResultStore& store, const Provenance& prov) override;
  void batch_done(const FrameBatch& batch, const ResultStore& store) override;
  Expected<std::string> series_ended(const ResultStore& store, const Provenance& prov) override;
  void source_counts(const SeriesCounts& series,
                     bool in_series,
                     const SeriesCounts& outside) override;

  //! The line as it would be painted now (tests).
  std::string line() const;

 private:
  void paint(bool final);

  std::FILE* out_;
  std::chrono::milliseconds interval_;
  std::atomic<std::uint64_t> total_{0}, processed_{0}, dropped_{0}, series_{0};
  std::atomic<bool> active_{false};
  std::atomic<std::int64_t> t0_ns_{0};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool quit_ = false;
  std::thread thread_;
};

}  // namespace stemflow
