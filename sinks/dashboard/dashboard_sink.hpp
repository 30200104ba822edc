// SPDX-License-Identifier: GPL-3.0-or-later
// DashboardSink: the live web dashboard, served by the engine on outputs.dashboard.listen
// (civetweb).
//
//   GET /                 the page (HTML, JS and CSS compiled into the binary:
//   sinks/dashboard/web/) GET /events           server-sent events: a snapshot, then deltas with
//   sequence numbers. The
//                         browser's Last-Event-ID (or ?last_id=) resumes a reconnecting client from
//                         the ring of recent deltas, or gives it a snapshot if it is too far
//                         behind. ?max_events=N ends the stream after N events (the browser
//                         reconnects and resumes: for proxies that dislike endless responses, and
//                         for the tests).
//   GET /api/snapshot     the current state as one JSON document
//   GET /api/peaks?i=N    the Bragg peaks kept for scan position N
//   GET /api/health       {"epoch", "seq", "clients"}: browsers connected to /events right now
//
// Threads. The engine's sink node calls batch_done(), which only copies the batch's positions'
// values (and, a few times a second, one frame for the running mean pattern) into a preallocated,
// bounded input under a short mutex and returns: it never allocates, waits for a browser or throws.
// A builder thread moves that input into the model every update_interval and appends one delta to
// the log. Each browser is served by its own civetweb thread, which reads deltas from the log as it
// can: a slow browser falls behind and gets a snapshot, nobody waits for it, and a browser that
// does not take data for request_timeout is dropped. Lossy by design: the HDF5 sink is the lossless
// one.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "pipeline/core/observer.hpp"
#include "sinks/dashboard/dashboard_model.hpp"

struct mg_context;
struct mg_connection;

namespace stemflow::sinks {

struct DashboardOptions {
  std::string listen = "127.0.0.1:8080";
  std::chrono::milliseconds update_interval{100};
  double sample_rate = 10;  // frames per second copied for the running mean pattern (0 = none)
  int max_clients = 8;
  DashboardModel::Limits limits{};
};

class DashboardSink final : public Observer {
 public:
  //! Starts serving; throws ConfigError if `listen` cannot be bound.
  explicit DashboardSink(DashboardOptions options);
  ~DashboardSink() override;
  DashboardSink(const DashboardSink&) = delete;
  DashboardSink& operator=(const DashboardSink&) = delete;

  std::string_view name() const override { return "dashboard"; }
  void series_started(const ResultStore& store, const Provenance& prov) override;
  void batch_done(const FrameBatch& batch, const ResultStore& store) override;
  Expected<std::string> series_ended(const ResultStore& store, const Provenance& prov) override;

  //! The source's counters of the current series (engine thread): folded into the graphs' totals.
  void source_counts(const SeriesCounts& series,
                     bool in_series,
                     const SeriesCounts& outside) override;

  //! The port actually bound.
  int port() const;
  //! Sequence number of the newest delta (for tests and logs).
  std::uint64_t last_seq() const;
  std::string epoch() const { return epoch_; }

 private:
  static int handle_request(mg_connection* conn, void* self);
  int handle(mg_connection* conn);
  int serve_events(mg_connection* conn);
  void series_counts(const SeriesCounts& counts);
  void builder_loop();
  void knock_once(int port) const;

  DashboardOptions options_;
  std::string epoch_;

  // Input side: the sink node and the engine thread write, the builder swaps it out.
  std::mutex in_mutex_;
  std::condition_variable builder_cv_;
  TickInput in_;
  Totals totals_;
  SeriesCounts last_counts_{};
  bool wake_ = false;
  bool stopping_ = false;
  std::size_t want_positions_ = 0;  // capacity the builder gives the buffers it hands back
  std::size_t want_vals_ = 0;
  std::size_t want_peaks_ = 0;
  std::size_t want_sample_ = 0;
  // Only the sink node reads these between series_started and series_ended.
  std::vector<MapSource> maps_;
  std::optional<std::size_t> peak_op_;
  std::uint64_t failed_seen_ = 0;
  std::uint64_t live_seen_ = 0;  // the store's live_generation() last copied
  std::chrono::steady_clock::time_point next_sample_{};
  std::chrono::steady_clock::duration sample_interval_{};
  bool sampling_ = false;

  // Builder thread only.
  TickInput spare_;

  // State side: the model and its log, read by the browsers' threads.
  mutable std::mutex state_mutex_;
  std::condition_variable state_cv_;
  DashboardModel model_;
  bool closing_ = false;  // guarded by state_mutex_
  std::atomic<int> clients_{0};

  std::thread builder_;
  mg_context* ctx_ = nullptr;
};

}  // namespace stemflow::sinks
