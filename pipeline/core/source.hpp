// SPDX-License-Identifier: GPL-3.0-or-later
// The source contract: what every input (a ZeroMQ receiver, a file replay, later an in-memory
// array) offers the engine. A source fills batch slots taken from the pool; when it finds no free
// slot it waits, which is the back-pressure.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "pipeline/core/batch.hpp"
#include "pipeline/core/operator.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow {

//! What happened in next(); each value says what the engine does next.
enum class SourceStatus {
  kSeriesStarted,  // header() is a new series: configure the pool for it, then call next() again
  kBatchReady,     // take_batch() returns a filled batch of the current series
  kSeriesEnded,    // the current series is over: counts() is final; drain the graph, write results
  kIdle,           // nothing happened within the poll interval (check for stop, call again)
  kFinished,       // no more series will come (end of file, or stop requested and drained)
};

//! What the other processes of a job that shared the current series (MPI ranks, each with a
//! share of its frames; mpi/) sent at its end, for the engine to make the whole series' images.
struct PeerResults {
  std::vector<std::uint64_t> frames_per_rank;                 // every process's, in rank order
  std::vector<std::vector<std::vector<SeriesImage>>> images;  // [peer][operator]
};

class Source {
 public:
  virtual ~Source() = default;
  virtual SourceStatus next() = 0;
  virtual const SeriesHeader& header() const = 0;
  virtual FrameBatch* take_batch() = 0;
  virtual const SeriesCounts& counts() const = 0;
  //! The engine cannot process the current series (it does not fit the configuration): receive
  //! and count its frames as dropped (series_rejected) without putting them into batches.
  virtual void reject_series() = 0;
  //! Ask the source to finish: it drains what it has already received, ends the series as
  //! interrupted, then returns kFinished. Safe to call from another thread.
  void request_stop() { stop_.store(true); }
  //! Messages received outside any series (before a start, after an end, an end of another
  //! series), by reason; cumulative over the source's life. Inside a series they are in counts().
  virtual const SeriesCounts& outside_counts() const { return no_outside_; }
  //! The other processes' part of the series that has just ended (kSeriesEnded), for a source that
  //! gathers a job's results; null for a process of its own.
  virtual const PeerResults* peers() const { return nullptr; }
  //! Called on the engine's thread once the graph is empty, before counts() is read at a series'
  //! end: a source whose batches were filled on the graph's workers (FrameBatch::fill) folds the
  //! frames they could not fill into counts() here.
  virtual void settle() {}
  //! A short description for logs and provenance (endpoints or path).
  virtual std::string describe() const = 0;

 protected:
  bool stop_requested() const { return stop_.load(); }

 private:
  std::atomic<bool> stop_{false};
  SeriesCounts no_outside_;
};

}  // namespace stemflow
