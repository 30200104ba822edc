// SPDX-License-Identifier: GPL-3.0-or-later
#include "mpi/series_events.hpp"

#include <mpi.h>
#include <spdlog/spdlog.h>

#include "mpi/result_wire.hpp"
#include "mpi/tags.hpp"

namespace stemflow::mpi {

void MpiSeriesPeers::announce(const Event& event) {
  encode_event(event, out_);
  // Small messages (a header with its metadata): MPI sends them eagerly, so this does not wait for
  // the other ranks to receive.
  for (std::uint32_t r = 0; r < ranks_; ++r) {
    if (r == rank_) continue;
    MPI_Send(
        out_.data(), static_cast<int>(out_.size()), MPI_BYTE, int(r), kTagEvent, events_comm());
  }
  spdlog::debug("told the other ranks: series {} {}",
                event.kind == Event::Kind::kStart ? event.header.series_id : event.series_id,
                event.kind == Event::Kind::kStart ? "started" : "ended");
}

std::optional<SeriesPeers::Event> MpiSeriesPeers::poll() {
  int waiting = 0;
  MPI_Status st;
  MPI_Iprobe(MPI_ANY_SOURCE, kTagEvent, events_comm(), &waiting, &st);
  if (!waiting) return std::nullopt;
  int bytes = 0;
  MPI_Get_count(&st, MPI_BYTE, &bytes);
  in_.resize(static_cast<std::size_t>(bytes));
  MPI_Recv(in_.data(), bytes, MPI_BYTE, st.MPI_SOURCE, kTagEvent, events_comm(), MPI_STATUS_IGNORE);
  auto e = decode_event(in_);
  if (!e) {
    spdlog::critical("rank {}: {}", st.MPI_SOURCE, e.error().message);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  return *e;
}

}  // namespace stemflow::mpi
