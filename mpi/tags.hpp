// SPDX-License-Identifier: GPL-3.0-or-later
// The MPI message tags and communicators of a job. Results travel on their own communicator and
// series events (starts and ends one rank's receiver got) on another, so that neither's messages
// ever wait behind the other's: MPI keeps the order of one sender's messages per communicator.
#pragma once

#include <mpi.h>

namespace stemflow::mpi {

//! Duplicates of MPI_COMM_WORLD made by Job (MPI_COMM_NULL before).
MPI_Comm results_comm();
MPI_Comm events_comm();

inline constexpr int kTagResults = 1;  // one batch's results (result_wire.hpp)
inline constexpr int kTagEnd = 2;      // a rank's end of the series: counts and images
inline constexpr int kTagEvent = 3;    // a series start or end another rank's receiver got

}  // namespace stemflow::mpi
