// SPDX-License-Identifier: GPL-3.0-or-later
// The MPI message tags of a job's results traffic (to rank 0).
#pragma once

namespace stemflow::mpi {

inline constexpr int kTagResults = 1;  // one batch's results (result_wire.hpp)
inline constexpr int kTagEnd = 2;      // a rank's end of the series: counts and images

}  // namespace stemflow::mpi
