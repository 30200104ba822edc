// SPDX-License-Identifier: GPL-3.0-or-later
// The other receivers of a job that share one sender: the ranks of an MPI job each connect a PULL
// socket to the detector's one PUSH socket, and ZeroMQ deals the messages round robin, so a
// series' start and end reach one receiver only. The receiver that gets one announces it; the
// others learn it here (mpi/ implements it over MPI).
#pragma once

#include <cstdint>
#include <optional>

#include "pipeline/core/series.hpp"

namespace stemflow {

class SeriesPeers {
 public:
  struct Event {
    enum class Kind : std::uint8_t { kStart, kEnd };
    Kind kind = Kind::kStart;
    SeriesHeader header;                 // kStart: the series
    std::uint64_t series_id = 0;         // kEnd: the series that ended
    std::uint64_t frames_announced = 0;  // kEnd: what the sender said it sent (0 if unknown)
  };

  virtual ~SeriesPeers() = default;
  //! Tells every other receiver of the job (never blocks for long: a small message).
  virtual void announce(const Event& event) = 0;
  //! The next event another receiver announced, if one has arrived.
  virtual std::optional<Event> poll() = 0;
};

}  // namespace stemflow
