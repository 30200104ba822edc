// SPDX-License-Identifier: GPL-3.0-or-later
#include "pipeline/engine.hpp"

#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_arena.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "stemflow_version.hpp"

namespace stemflow {

namespace flow = tbb::flow;

// The graph runs in an arena of its own with `threads` worker slots and one more for the engine's
// thread. The engine's thread feeds the graph (it reads sockets and files) and mostly waits: in a
// default arena oneTBB counts it as one of the cores and starts one worker fewer than there are
// cores, so a replay computed on one core of two, and on one CPU there was no worker at all: the
// source waited for a pool slot that only the graph could free, and nothing ran the graph. Here
// the workers are `threads` whatever the calling thread does; the global limit is raised to let
// oneTBB start them (it counts the external thread too).
struct Engine::Graph {
  struct Nodes {
    flow::graph g;
    flow::function_node<FrameBatch*, FrameBatch*> compute;
    flow::sequencer_node<FrameBatch*> order;
    flow::function_node<FrameBatch*> sink;

    template <class ComputeFn, class SinkFn>
    Nodes(ComputeFn&& compute_fn, SinkFn&& sink_fn)
        : compute(g, flow::unlimited, std::forward<ComputeFn>(compute_fn)),
          order(g, [](FrameBatch* b) { return static_cast<std::size_t>(b->sequence); }),
          sink(g, flow::serial, std::forward<SinkFn>(sink_fn)) {
      flow::make_edge(compute, order);
      flow::make_edge(order, sink);
    }
  };

  tbb::global_control limit;
  tbb::task_arena arena;
  std::unique_ptr<Nodes> nodes;  // made inside arena.execute(), which binds the graph to `arena`

  template <class ComputeFn, class SinkFn>
  Graph(int threads, ComputeFn&& compute_fn, SinkFn&& sink_fn)
      : limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads) + 1),
        arena(threads + 1, 1) {
    arena.execute([&] {
      nodes = std::make_unique<Nodes>(std::forward<ComputeFn>(compute_fn),
                                      std::forward<SinkFn>(sink_fn));
    });
  }
  // Batches put and not yet through the sink. wait() waits for them on a condition variable
  // before it waits for the graph: graph::wait_for_all() enters the arena and runs the graph's
  // tasks on the engine's thread, and at a replay's end, when reading is left to the workers, a
  // whole pool of batches is still in flight (a quarter of a 16k-frame threads = 1 replay was
  // computed there), so `threads` would not be the threads computing.
  std::mutex in_flight_mutex;
  std::condition_variable in_flight_cv;
  std::size_t in_flight = 0;

  void put(FrameBatch* b) {
    {
      std::lock_guard lock(in_flight_mutex);
      ++in_flight;
    }
    nodes->compute.try_put(b);  // submitted to the arena; never run on this thread
  }
  //! The sink's last step for each batch.
  void left() {
    {
      std::lock_guard lock(in_flight_mutex);
      --in_flight;
    }
    in_flight_cv.notify_all();
  }
  void wait() {
    {
      std::unique_lock lock(in_flight_mutex);
      in_flight_cv.wait(lock, [&] { return in_flight == 0; });
    }
    nodes->g.wait_for_all();  // what is left: the sink's return
  }
};

Engine::Engine(EngineParts parts) : parts_(std::move(parts)) {
  operators_ = std::move(parts_.operators);
  output_info_ = std::move(parts_.outputs);
  observers_ = std::move(parts_.observers);
  batch_frames_ = std::max<std::uint32_t>(1, parts_.batch_frames);
  device_ = parts_.device;
  preview_interval_ = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(parts_.preview_interval_s));
  // The plan linked them already; parts built by hand (tests, embeddings) are linked here.
  link_operator_inputs(operators_);
  placement_ = parts_.make_placement(operators_);
  placement_->set_timer([this](std::size_t o, double s) {
    notify([&](Observer& obs) { obs.operator_batch(o, s); });
  });
  pool_ = std::make_unique<BatchPool>(parts_.memory_limit, placement_->pinning());
  pool_->set_results_budget(parts_.results_limit, results_bytes_per_position());
  source_ = parts_.make_source(*pool_);

  auto compute = [this](FrameBatch* b) -> FrameBatch* {
    if (abort_.load()) {
      // Cut short: the frames of a batch not yet computed are dropped unprocessed (count = 0 tells
      // the sink node), so that the graph empties in the time of the batches already computing.
      b->count = 0;
      move_edge(Edge::kCompute, Edge::kOrder);
      return b;
    }
    // Every operator on the batch, wherever the placement put it. Nothing may escape a node body:
    // an exception would cancel the whole graph, so a failing operator fails its frames.
    if (b->fill != nullptr) {
      // The source's reads, here on a worker (a replay); frames it could not read leave the batch.
      b->fill->fill(*b);
      b->fill = nullptr;
    }
    // computed: by another process of the job.
    if (!b->computed && b->count > 0) placement_->process(*b);
    move_edge(Edge::kCompute, Edge::kOrder);
    return b;
  };
  auto sink = [this](FrameBatch* b) {
    move_edge(Edge::kOrder, Edge::kSink);
    if (b->count > 0) {  // 0: dropped unprocessed by abort()
      store_.consume(*b);
      after_consume(*b);
      notify([&](Observer& o) { o.batch_done(*b, store_); });
    }
    notify([](Observer& o) { o.edge_leave(Edge::kSink); });
    pool_->release(b);
    graph_->left();
  };
  // pipeline.threads = 0: the CPUs this process may run on (oneTBB reads the affinity mask, so a
  // taskset, a container's CPU limit or a Slurm binding is respected).
  threads_ = parts_.threads > 0 ? parts_.threads : tbb::info::default_concurrency();
  graph_ = std::make_unique<Graph>(threads_, compute, sink);
}

Engine::~Engine() {
  if (graph_) graph_->wait();
}

std::size_t Engine::results_bytes_per_position() const {
  // What start() of a series allocates per scan position: the source's and the store's coverage
  // bytes, each operator's scalar maps (f64) and, for peak lists, an offset and a count. The
  // dashboard keeps f32 copies of the maps; half again covers it and the smaller arrays.
  std::size_t bytes = 2;
  for (const auto& op : operators_) {
    const auto spec = op->outputs();
    bytes += spec.scalars.size() * sizeof(double);
    if (spec.max_peaks > 0) bytes += sizeof(std::uint64_t) + sizeof(std::uint32_t);
  }
  return bytes + bytes / 2;
}

void Engine::after_consume(const FrameBatch& b) {
  // A source that leaves first_arrival unset (the default time point) has no first-frame time.
  if (b.first_arrival != std::chrono::steady_clock::time_point{} &&
      (first_frame_in_ == std::chrono::steady_clock::time_point{} ||
       b.first_arrival < first_frame_in_)) {
    first_frame_in_ = b.first_arrival;
  }
  // The serial hooks of the operators (operator.hpp), on the sink node: nothing may escape.
  for (std::size_t o = 0; o < operators_.size(); ++o) {
    try {
      operators_[o]->reduce(b, store_);
    } catch (const std::exception& e) {
      spdlog::error("operator '{}': reduce failed on a batch: {}", operators_[o]->name(), e.what());
    }
  }
  const auto now = std::chrono::steady_clock::now();
  last_batch_out_ = now;
  if (preview_interval_.count() <= 0) return;
  if (now - last_preview_ < preview_interval_) return;
  last_preview_ = now;
  for (std::size_t o = 0; o < operators_.size(); ++o) {
    try {
      auto images = operators_[o]->preview(store_);
      if (!images.empty()) store_.set_live_images(o, std::move(images));
    } catch (const std::exception& e) {
      spdlog::error("operator '{}': preview failed: {}", operators_[o]->name(), e.what());
    }
  }
}

std::string Engine::describe_input() const { return parts_.input + " " + source_->describe(); }

void Engine::stop() {
  stop_.store(true);
  source_->request_stop();
}

void Engine::abort() {
  abort_.store(true);
  notify([](Observer& o) { o.cut_short(); });
  stop();
}

int Engine::exit_code() const {
  if (write_failed_) return 3;
  return abort_.load() ? kExitCutShort : 0;
}

bool Engine::begin_series() {
  series_ = source_->header();
  series_rejected_ = false;
  series_t0_ = std::chrono::steady_clock::now();
  first_frame_in_ = last_batch_out_ = {};
  if (const auto& s = parts_.scan_shape) {
    if ((*s)[0] != series_.scan_rows || (*s)[1] != series_.scan_cols) {
      spdlog::warn("series {} announces a {}x{} scan; scan.shape says {}x{}: using the series'",
                   series_.series_id,
                   series_.scan_rows,
                   series_.scan_cols,
                   (*s)[0],
                   (*s)[1]);
    }
  }
  spdlog::info("series {} started: scan {}x{}, frames {}x{} {}, detector '{}'",
               series_.series_id,
               series_.scan_rows,
               series_.scan_cols,
               series_.frame_rows,
               series_.frame_cols,
               dtype_name(series_.dtype),
               series_.detector);
  auto reject = [&](std::string_view why) {
    // This series does not fit the configuration or the memory (a mask of another shape, a frame
    // too large for the pool, a scan too large for pipeline.results_limit): count its frames as
    // dropped and keep serving later series.
    spdlog::error("series {} rejected: {}", series_.series_id, why);
    series_rejected_ = true;
    source_->reject_series();
    notify([&](Observer& o) { o.series_refused(series_, why); });
    return false;
  };
  // The same check the source made before it allocated anything, before the operators, the pool
  // and the result store size themselves for the series.
  if (auto fits = pool_->admit(series_); !fits) return reject(fits.error().message);
  std::vector<std::pair<std::uint32_t, std::uint32_t>> shapes;
  try {
    for (std::size_t o = 0; o < operators_.size(); ++o) {
      operators_[o]->start(series_);
      output_info_[o].spec = operators_[o]->outputs();
      shapes.emplace_back(static_cast<std::uint32_t>(output_info_[o].spec.scalars.size()),
                          output_info_[o].spec.max_peaks);
    }
    const auto per_batch = pool_->configure(series_, batch_frames_, shapes);
    if (per_batch != batch_frames_) {
      spdlog::info("batches of {} frames ({} slots) to fit pipeline.memory_limit",
                   per_batch,
                   pool_->slots());
    }
    placement_->start(series_, per_batch);
    store_.start(series_, output_info_);
  } catch (const ConfigError& e) {
    return reject(e.what());
  } catch (const std::bad_alloc&) {
    return reject("not enough memory for its results or the operators' working state");
  }
  provenance_ = Provenance{};
  provenance_.stemflow_version = STEMFLOW_VERSION;
  provenance_.config_toml = parts_.config_toml;
  provenance_.config_file = parts_.config_file;
  provenance_.input = describe_input();
  provenance_.device = device_;
  provenance_.start_time = utc_now();
  last_preview_ = series_t0_;
  notify([&](Observer& o) { o.series_started(store_, provenance_); });
  return true;
}

void Engine::end_series() {
  graph_->wait();
  source_->settle();
  // Read after the graph is empty: a batch dropped by abort() was dropped before this.
  const bool cut_short = abort_.load();
  SeriesReport rep;
  rep.header = series_;
  rep.counts = source_->counts();
  if (cut_short) rep.counts.end = SeriesEnd::kCutShort;
  if (series_rejected_) {
    rep.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - series_t0_).count();
    spdlog::error("series {} ended: {} frames received, all dropped (series_rejected)",
                  series_.series_id,
                  rep.counts.frames_received);
    reports_.push_back(std::move(rep));
    return;
  }
  // Cut short, the per-series images are not made (a GPU operator's would wait for the device).
  // In a job of several processes, the others' images of the series are folded into this one's.
  const PeerResults* peers = source_->peers();
  for (std::size_t o = 0; o < operators_.size() && !cut_short; ++o) {
    auto images = placement_->finish(o);
    for (std::size_t p = 0; peers && p < peers->images.size(); ++p) {
      if (o >= peers->images[p].size()) continue;
      for (const auto& theirs : peers->images[p][o]) {
        auto mine = std::find_if(images.begin(), images.end(), [&](const SeriesImage& m) {
          return m.suffix == theirs.suffix;
        });
        if (mine == images.end() || !combine_into(*mine, theirs)) {
          spdlog::error("series {}: operator '{}': another process's image '{}' does not match",
                        series_.series_id,
                        operators_[o]->name(),
                        theirs.suffix);
        }
      }
    }
    store_.add_series_images(o, std::move(images));
  }
  // Then the scan-wide fits, in pipeline order: an operator's conclude() may read the images of
  // its inputs, which come earlier.
  for (std::size_t o = 0; o < operators_.size() && !cut_short && parts_.conclude; ++o) {
    try {
      store_.add_series_images(o, operators_[o]->conclude(store_));
    } catch (const std::exception& e) {
      spdlog::error(
          "operator '{}': its end-of-series images failed: {}", operators_[o]->name(), e.what());
    }
  }
  rep.frames_processed = store_.frames_processed();
  rep.frames_failed = store_.frames_failed();
  provenance_.end_time = utc_now();
  provenance_.counts = rep.counts;
  provenance_.frames_processed = rep.frames_processed;
  provenance_.frames_failed = rep.frames_failed;
  if (peers) {
    provenance_.frames_per_rank = peers->frames_per_rank;
    provenance_.mpi_ranks = static_cast<std::uint32_t>(peers->frames_per_rank.size());
  } else {
    provenance_.frames_per_rank = {rep.counts.frames_received};
    provenance_.mpi_ranks = 1;
  }
  for (auto& s : observers_) {
    auto kept = s->series_ended(store_, provenance_);
    if (!kept) {
      write_failed_ = true;
      rep.output_error = kept.error().message;
      spdlog::error("series {}: {} results incomplete or missing: {}",
                    series_.series_id,
                    s->name(),
                    rep.output_error);
    } else if (s->name() == "hdf5") {
      rep.output_path = *kept;
    }
  }
  rep.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - series_t0_).count();
  const auto& c = rep.counts;
  const double fps = rep.seconds > 0 ? double(rep.frames_processed) / rep.seconds : 0.0;
  spdlog::info(
      "series {} {}: {} frames received, {} processed, {} dropped, {} missing of {}; "
      "{:.3f} s, {:.0f} frames/s, {:.1f} MB/s{}{}",
      series_.series_id,
      series_end_name(c.end),
      c.frames_received,
      rep.frames_processed,
      c.dropped_total() + rep.frames_failed,
      series_.scan_size() - rep.frames_processed,
      series_.scan_size(),
      rep.seconds,
      fps,
      fps * double(series_.frame_bytes()) / 1e6,
      rep.output_path.empty() ? "" : " -> ",
      rep.output_path);
  if (first_frame_in_ != std::chrono::steady_clock::time_point{} &&
      last_batch_out_ > first_frame_in_) {
    // "fps", not "frames/s": scripts take the line above's rate with grep 'frames/s'.
    const double window = std::chrono::duration<double>(last_batch_out_ - first_frame_in_).count();
    spdlog::info("series {}: first frame in to last frame processed {:.3f} s, {:.0f} fps",
                 series_.series_id,
                 window,
                 double(rep.frames_processed) / window);
  }
  for (std::size_t r = 0; r < kDropReasonCount; ++r) {
    if (c.dropped[r] > 0) {
      spdlog::info(
          "  dropped ({}): {}", drop_reason_name(static_cast<DropReason>(r)), c.dropped[r]);
    }
  }
  if (rep.frames_failed > 0) spdlog::info("  dropped (operator_error): {}", rep.frames_failed);
  if (cut_short && c.frames_accepted > rep.frames_processed) {
    spdlog::warn("  cut short: {} frames received but not processed",
                 c.frames_accepted - rep.frames_processed);
  }
  reports_.push_back(std::move(rep));
}

void Engine::log_outside_counts() const {
  const auto& c = source_->outside_counts();
  for (std::size_t r = 0; r < kDropReasonCount; ++r) {
    if (c.dropped[r] > 0) {
      spdlog::warn("messages outside any series ({}): {}",
                   drop_reason_name(static_cast<DropReason>(r)),
                   c.dropped[r]);
    }
  }
}

int Engine::run(std::optional<std::uint64_t> max_series) {
  std::uint64_t series_done = 0;
  bool in_series = false;
  for (;;) {
    if (abort_.load()) {
      // Nothing more from the source, not even what it holds: end the series with what the
      // results have.
      if (in_series) end_series();
      graph_->wait();
      return exit_code();
    }
    if (stop_.load()) source_->request_stop();
    const auto status = source_->next();
    if (!observers_.empty()) {
      // The pool's occupancy takes its lock: read once per step, not once per observer.
      const std::size_t in_use = in_series ? pool_->slots() - pool_->free_slots() : 0;
      notify([&](Observer& o) {
        o.source_counts(source_->counts(), in_series, source_->outside_counts());
        if (in_series) o.pool(in_use, pool_->slots(), pool_->memory_limit());
      });
    }
    switch (status) {
      case SourceStatus::kSeriesStarted:
        begin_series();
        in_series = true;
        break;
      case SourceStatus::kBatchReady: {
        FrameBatch* b = source_->take_batch();
        b->sequence = next_sequence_++;
        notify([](Observer& o) { o.edge_enter(Edge::kCompute); });
        graph_->put(b);
        break;
      }
      case SourceStatus::kSeriesEnded:
        end_series();
        in_series = false;
        ++series_done;
        if (max_series && series_done >= *max_series) {
          graph_->wait();
          log_outside_counts();
          return exit_code();
        }
        break;
      case SourceStatus::kIdle:
        break;
      case SourceStatus::kFinished:
        if (in_series) end_series();
        graph_->wait();
        log_outside_counts();
        return exit_code();
    }
  }
}

}  // namespace stemflow
