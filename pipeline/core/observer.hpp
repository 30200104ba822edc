// SPDX-License-Identifier: GPL-3.0-or-later
// The observer contract: everything outside the engine that watches a run (the HDF5 writer, the
// Prometheus metrics, the live dashboard, and later the Python package or an MPI reducer) is an
// Observer. The engine knows this interface only, and calls every observer the same way.
//
// Results. Observers see a series through the result store, after each batch has been scattered
// into it, on the graph's serial sink node, in batch order:
//   lossless observers (HDF5) may take their time in batch_done: holding the sink node back holds
//     the pool's slots, which stops the source: that is the back-pressure, and nothing is lost;
//   lossy observers (dashboard, metrics) must return at once: they copy what they need into their
//     own bounded, drop-oldest buffers and serve it from their own threads.
// Flow. The source's counters, the pool's occupancy, the graph's queues and the operators' times,
// as they change; all must return at once (an atomic update or a copy).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "pipeline/core/batch.hpp"
#include "pipeline/core/expected.hpp"
#include "pipeline/core/provenance.hpp"
#include "pipeline/core/result_store.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow {

//! The flow-graph edges whose queues are reported.
enum class Edge { kCompute, kOrder, kSink, kCount };

class Observer {
 public:
  virtual ~Observer() = default;
  virtual std::string_view name() const = 0;

  // ---- results (the engine's thread, or the serial sink node for batch_done) ----
  //! Single-threaded, after the store was sized for the series and before its first batch.
  //! `prov` holds what is known at the start (configuration, input, start time).
  virtual void series_started(const ResultStore& store, const Provenance& prov) = 0;
  //! After the store took `batch`. Never throws: a failure is remembered and reported at the end.
  virtual void batch_done(const FrameBatch& batch, const ResultStore& store) = 0;
  //! After the last batch and the operators' per-series images; `prov` is final. Returns what was
  //! kept (e.g. the file path) or why the results could not be kept.
  virtual Expected<std::string> series_ended(const ResultStore& store, const Provenance& prov) = 0;
  //! The engine refused the series before it started (it does not fit the configuration or the
  //! memory): no series_started/series_ended follow; its frames are counted as series_rejected.
  virtual void series_refused(const SeriesHeader& series, std::string_view why) {
    (void)series;
    (void)why;
  }
  //! A second signal: the user wants the process gone within a second or two. Called from another
  //! thread (the signal watcher), at any time, even while series_ended runs: from now on, finish
  //! with what is needed to leave results that open (skip what takes time in proportion to the
  //! scan). Must only set a flag.
  virtual void cut_short() {}

  // ---- flow (the engine's thread unless said otherwise; return at once) ----
  //! After every step of the source: the current series' counters (`in_series` false between
  //! series) and the messages received outside any series (cumulative over the run).
  virtual void source_counts(const SeriesCounts& series,
                             bool in_series,
                             const SeriesCounts& outside) {
    (void)series;
    (void)in_series;
    (void)outside;
  }
  //! The pool's slots in use, of `slots`, and its bytes.
  virtual void pool(std::size_t in_use, std::size_t slots, std::size_t bytes) {
    (void)in_use;
    (void)slots;
    (void)bytes;
  }
  //! A batch entered or left an edge's queue (graph threads).
  virtual void edge_enter(Edge e) { (void)e; }
  virtual void edge_leave(Edge e) { (void)e; }
  //! Operator `op` spent `seconds` on one batch (graph threads).
  virtual void operator_batch(std::size_t op, double seconds) {
    (void)op;
    (void)seconds;
  }
};

}  // namespace stemflow
