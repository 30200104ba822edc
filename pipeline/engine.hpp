// SPDX-License-Identifier: GPL-3.0-or-later
// The engine: a source feeding a oneTBB flow graph
//   source (this thread) -> compute (operators, concurrent batches) -> sequencer (batch order)
//   -> sink (serial: results store, then the slot goes back to the pool)
// Frames in flight are bounded by the pool: a batch slot is the token, taken by the source and
// returned by the sink, so a full pipeline stops the source reading its socket.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/core/batch_pool.hpp"
#include "pipeline/core/observer.hpp"
#include "pipeline/core/operator.hpp"
#include "pipeline/core/placement.hpp"
#include "pipeline/core/result_store.hpp"
#include "pipeline/core/source.hpp"

namespace stemflow {

//! What one series gave, for the summary line and for tests.
struct SeriesReport {
  SeriesHeader header;
  SeriesCounts counts;
  std::uint64_t frames_processed = 0;
  std::uint64_t frames_failed = 0;
  double seconds = 0;       // series start to results written
  std::string output_path;  // empty if no HDF5 output or it failed
  std::string output_error;
};

//! Everything the engine runs, built from a configuration by make_plan (pipeline/plan.hpp), or by
//! hand in a test or an embedding (the Python package). Core types only: the engine knows no
//! protocol, operator kind, device or sink.
struct EngineParts {
  std::vector<std::unique_ptr<Operator>> operators;
  std::vector<OutputInfo> outputs;  // one per operator: name, type, provenance parameters
  //! Makes the placement over the engine's own operators (it keeps a reference to them).
  std::function<std::unique_ptr<Placement>(const std::vector<std::unique_ptr<Operator>>&)>
      make_placement;
  std::size_t memory_limit =
      0;  // the batch pool, allocated by the engine with the placement's hooks
  //! Makes the source over the engine's pool.
  std::function<std::unique_ptr<Source>(BatchPool&)> make_source;
  std::vector<std::unique_ptr<Observer>> observers;  // results writers, metrics, dashboard
  std::uint32_t batch_frames = 64;
  //! Seconds between the operators' live images (Operator::preview); 0: none (no dashboard).
  double preview_interval_s = 0;
  //! Operators' conclude() at series end. False on the ranks of an MPI job that do not write: their
  //! scan-wide fits would see only their share, and rank 0 makes them from the whole scan.
  bool conclude = true;
  int threads = 0;  // 0: the CPUs the process may use
  std::size_t results_limit = 0;
  std::string device = "cpu";            // for the provenance
  std::string input;                     // "protocol" or "file", for the provenance and the log
  std::string config_toml, config_file;  // for the provenance
  std::optional<std::array<std::uint32_t, 2>> scan_shape;  // configured; the series' header wins
};

class Engine {
 public:
  explicit Engine(EngineParts parts);
  ~Engine();

  //! Runs until the source finishes, `max_series` series have ended, or stop() or abort() is
  //! called. Returns the process exit code: 0; kExitCutShort after abort(); 3 (before either) if a
  //! results file could not be written.
  int run(std::optional<std::uint64_t> max_series);
  //! Asks for an orderly stop: drain what was received, write the results, return from run().
  //! Safe to call from any thread (not from a signal handler: use a flag and a watcher).
  void stop();
  //! Asks to stop at once (a second signal): nothing more is received, batches not yet computed
  //! are dropped unprocessed (their frames counted as frames_cut_short), the series ends as
  //! cut_short with what the results hold, the sinks finish quickly (cut_short()), and run()
  //! returns kExitCutShort. Safe to call from any thread, also after stop().
  void abort();

  //! run()'s exit code after abort(): 128 + SIGINT, as a shell reports a process stopped by Ctrl-C.
  static constexpr int kExitCutShort = 130;

  const std::vector<SeriesReport>& reports() const { return reports_; }
  std::string describe_input() const;
  //! Messages the source received outside any series, by reason (cumulative).
  const SeriesCounts& outside_counts() const { return source_->outside_counts(); }

 private:
  struct Graph;
  bool begin_series();
  std::size_t results_bytes_per_position() const;
  void end_series();
  //! The operators' serial hooks after the store took a batch (the sink node).
  void after_consume(const FrameBatch& b);
  void log_outside_counts() const;
  template <class Fn>
  void notify(Fn&& fn) {
    for (auto& o : observers_) fn(*o);
  }
  //! A batch leaves one edge's queue for the next (graph threads).
  void move_edge(Edge from, Edge to) {
    notify([&](Observer& o) {
      o.edge_leave(from);
      o.edge_enter(to);
    });
  }
  int exit_code() const;

  EngineParts parts_;  // settings and the factories; the parts themselves move into members
  std::unique_ptr<BatchPool> pool_;
  std::unique_ptr<Source> source_;
  std::vector<std::unique_ptr<Operator>> operators_;
  std::vector<OutputInfo> output_info_;
  std::unique_ptr<Graph> graph_;
  ResultStore store_;
  std::vector<std::unique_ptr<Observer>> observers_;  // results writers, metrics, dashboard
  Provenance provenance_;                             // of the current series
  SeriesHeader series_;                               // the current series; batches point at it
  bool series_rejected_ = false;
  std::uint64_t next_sequence_ = 0;
  std::chrono::steady_clock::time_point series_t0_{};
  // First frame in (the earliest batch's first arrival) to last batch through the sink node: the
  // window bench/ingest compares with bare ZeroMQ's first frame to last frame (issue 13), which
  // series_t0_ (series header to results written) is not.
  std::chrono::steady_clock::time_point first_frame_in_{};
  std::chrono::steady_clock::time_point last_batch_out_{};
  std::vector<SeriesReport> reports_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> abort_{false};
  bool write_failed_ = false;
  std::uint32_t batch_frames_ = 64;
  std::chrono::steady_clock::duration preview_interval_{};
  std::chrono::steady_clock::time_point last_preview_{};
  int threads_ = 1;  // compute workers of the graph
  std::string device_ = "cpu";
  std::unique_ptr<Placement> placement_;  // where each operator runs, and running them
};

}  // namespace stemflow
