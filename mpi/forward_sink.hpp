// SPDX-License-Identifier: GPL-3.0-or-later
// Ranks 1..K-1 of an MPI job: the observer that sends each batch's results, and at the end of the
// series the rank's counts and per-series images, to rank 0, which writes the one results file.
// A lossless observer: it holds this rank's sink node while MPI sends, which is this rank's
// back-pressure from the writer.
#pragma once

#include <cstddef>
#include <vector>

#include "pipeline/core/observer.hpp"

namespace stemflow::mpi {

class ForwardSink final : public Observer {
 public:
  std::string_view name() const override { return "mpi-forward"; }
  void series_started(const ResultStore& store, const Provenance& prov) override;
  void batch_done(const FrameBatch& batch, const ResultStore& store) override;
  Expected<std::string> series_ended(const ResultStore& store, const Provenance& prov) override;
  void series_refused(const SeriesHeader& series, std::string_view why) override;

 private:
  void send_end(const SeriesCounts& counts, const ResultStore* store);
  std::vector<std::byte> buffer_;
};

}  // namespace stemflow::mpi
