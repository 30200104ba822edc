// SPDX-License-Identifier: GPL-3.0-or-later
// The sink contract. Sinks see a series through the result store, after each batch has been
// scattered into it, on the graph's serial sink node, in batch order.
//   lossless sinks (HDF5) may take their time in batch_consumed: holding the sink node back holds the
//     pool's slots, which stops the source: that is the back-pressure, and nothing is lost;
//   lossy sinks (dashboard, metrics) must return at once: they copy what they need into their own
//     bounded, drop-oldest buffers and serve it from their own threads.
#pragma once

#include <string>
#include <string_view>

#include "pipeline/batch.hpp"
#include "pipeline/expected.hpp"
#include "sinks/provenance.hpp"
#include "sinks/result_store.hpp"

namespace stemflow::sinks {

class Sink {
 public:
  virtual ~Sink() = default;
  virtual std::string_view name() const = 0;
  //! Single-threaded, after the store was sized for the series and before its first batch.
  //! `prov` holds what is known at the start (configuration, input, start time).
  virtual void series_started(const ResultStore& store, const Provenance& prov) = 0;
  //! After the store took `batch`. Never throws: a failure is remembered and reported at the end.
  virtual void batch_consumed(const FrameBatch& batch, const ResultStore& store) = 0;
  //! After the last batch and the operators' per-series images; `prov` is final. Returns what was
  //! kept (e.g. the file path) or why the results could not be kept.
  virtual Expected<std::string> series_ended(const ResultStore& store, const Provenance& prov) = 0;
  //! A second signal: the user wants the process gone within a second or two. Called from another
  //! thread (the signal watcher), at any time, even while series_ended runs: from now on, finish
  //! with what is needed to leave results that open (skip what takes time in proportion to the
  //! scan). Must only set a flag.
  virtual void cut_short() {}
};

}  // namespace stemflow::sinks
