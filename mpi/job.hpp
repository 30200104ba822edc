// SPDX-License-Identifier: GPL-3.0-or-later
// The MPI job this process belongs to. MPI is initialised only when a launcher started the
// process (mpirun, srun, an MPI Operator's launcher: they set PMI/PMIx variables); a plain
// `stemflow run` of an MPI build is a one-rank job that never touches MPI, so it needs no MPI
// runtime on the machine and starts as fast as a build without MPI.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace stemflow::mpi {

class Job {
 public:
  //! Initialises MPI (MPI_THREAD_MULTIPLE: a rank's sink thread sends results while its engine
  //! thread exchanges series events) when launched by an MPI launcher; otherwise a job of one rank.
  Job(int& argc, char**& argv);
  ~Job();  // MPI_Finalize
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  std::uint32_t rank() const { return rank_; }
  std::uint32_t ranks() const { return ranks_; }
  bool active() const { return initialised_; }

  //! Every rank says whether it is ready (and why not); returns one line per rank that is not,
  //! naming it, on every rank. Collective: all ranks must call it.
  std::vector<std::string> agree(bool ok, const std::string& why) const;
  //! The ranks whose `text` (the effective configuration) differs from rank 0's. Collective.
  std::vector<std::uint32_t> differ_from_rank0(const std::string& text) const;
  //! Ends the whole job at once with `code` (MPI_Abort): after a fatal error on this rank, so that
  //! no other rank waits for it.
  [[noreturn]] void abort(int code) const;

 private:
  bool initialised_ = false;
  std::uint32_t rank_ = 0;
  std::uint32_t ranks_ = 1;
};

//! True when an MPI launcher started this process.
bool launched_by_mpi();

}  // namespace stemflow::mpi
