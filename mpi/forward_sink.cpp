// SPDX-License-Identifier: GPL-3.0-or-later
#include "mpi/forward_sink.hpp"

#include <mpi.h>

#include "mpi/result_wire.hpp"
#include "mpi/tags.hpp"
#include "pipeline/core/result_store.hpp"

namespace stemflow::mpi {

void ForwardSink::series_started(const ResultStore&, const Provenance&) {}

void ForwardSink::batch_done(const FrameBatch& batch, const ResultStore&) {
  encode_results(batch, buffer_);
  MPI_Send(
      buffer_.data(), static_cast<int>(buffer_.size()), MPI_BYTE, 0, kTagResults, results_comm());
}

void ForwardSink::send_end(const SeriesCounts& counts, const ResultStore* store) {
  EndMessage end;
  end.counts = counts;
  if (store) {
    // Only images made from this rank's frames travel; the others (kNone) are rank 0's to make
    // from the whole scan's results.
    for (std::size_t o = 0; o < store->outputs().size(); ++o) {
      auto& mine = end.images.emplace_back();
      for (const auto& img : store->series_images(o)) {
        if (img.combine != Combine::kNone) mine.push_back(img);
      }
    }
  }
  encode_end(end, buffer_);
  MPI_Send(buffer_.data(), static_cast<int>(buffer_.size()), MPI_BYTE, 0, kTagEnd, results_comm());
}

Expected<std::string> ForwardSink::series_ended(const ResultStore& store, const Provenance& prov) {
  send_end(prov.counts, &store);
  return std::string{};
}

void ForwardSink::series_refused(const SeriesHeader&, std::string_view) {
  // Rank 0 refuses the same series (the same configuration): it still waits for this rank's end.
  send_end(SeriesCounts{}, nullptr);
}

}  // namespace stemflow::mpi
