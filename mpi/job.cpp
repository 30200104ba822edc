// SPDX-License-Identifier: GPL-3.0-or-later
#include "mpi/job.hpp"

#include <mpi.h>

#include <cstdlib>
#include <functional>
#include <stdexcept>

#include "mpi/tags.hpp"

namespace stemflow::mpi {

namespace {
MPI_Comm g_results = MPI_COMM_NULL;
MPI_Comm g_events = MPI_COMM_NULL;
}  // namespace

MPI_Comm results_comm() { return g_results; }
MPI_Comm events_comm() { return g_events; }

bool launched_by_mpi() {
  // Open MPI's mpirun, PMIx launchers (srun --mpi=pmix, prterun), PMI-1/2 (srun, MPICH's hydra).
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    if (std::getenv(v) != nullptr) return true;
  }
  return false;
}

Job::Job(int& argc, char**& argv) {
  if (!launched_by_mpi()) return;
  int provided = 0;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
    throw std::runtime_error("MPI_Init_thread failed");
  }
  initialised_ = true;
  if (provided < MPI_THREAD_MULTIPLE) {
    MPI_Finalize();
    initialised_ = false;
    throw std::runtime_error("the MPI library does not support MPI_THREAD_MULTIPLE");
  }
  MPI_Comm_dup(MPI_COMM_WORLD, &g_results);
  MPI_Comm_dup(MPI_COMM_WORLD, &g_events);
  int r = 0, n = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  rank_ = static_cast<std::uint32_t>(r);
  ranks_ = static_cast<std::uint32_t>(n);
}

Job::~Job() {
  if (!initialised_) return;
  MPI_Comm_free(&g_results);
  MPI_Comm_free(&g_events);
  MPI_Finalize();
}

std::vector<std::string> Job::agree(bool ok, const std::string& why) const {
  std::vector<std::string> failed;
  if (!initialised_) {
    if (!ok) failed.push_back("rank 0: " + why);
    return failed;
  }
  // Each rank's reason, at most 1 KiB, gathered to every rank.
  constexpr int kWhy = 1024;
  std::string mine(kWhy, '\0');
  if (!ok) mine.replace(0, std::min<std::size_t>(why.size(), kWhy - 1), why.substr(0, kWhy - 1));
  mine[kWhy - 1] = ok ? '\0' : '\1';
  std::string all(std::size_t{kWhy} * ranks_, '\0');
  MPI_Allgather(mine.data(), kWhy, MPI_CHAR, all.data(), kWhy, MPI_CHAR, MPI_COMM_WORLD);
  for (std::uint32_t r = 0; r < ranks_; ++r) {
    const char* p = all.data() + std::size_t{r} * kWhy;
    if (p[kWhy - 1] != '\0') failed.push_back("rank " + std::to_string(r) + ": " + p);
  }
  return failed;
}

std::vector<std::uint32_t> Job::differ_from_rank0(const std::string& text) const {
  std::vector<std::uint32_t> differ;
  if (!initialised_) return differ;
  // The text itself, not a hash of it: rank 0 broadcasts it and each rank compares (no collision
  // can pass a different configuration off as the same).
  unsigned long long n = text.size();
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
  std::string root = rank_ == 0 ? text : std::string(n, '\0');
  MPI_Bcast(root.data(), static_cast<int>(n), MPI_CHAR, 0, MPI_COMM_WORLD);
  int same = root == text ? 1 : 0;
  std::vector<int> all(ranks_, 0);
  MPI_Allgather(&same, 1, MPI_INT, all.data(), 1, MPI_INT, MPI_COMM_WORLD);
  for (std::uint32_t r = 0; r < ranks_; ++r) {
    if (!all[r]) differ.push_back(r);
  }
  return differ;
}

void Job::abort(int code) const {
  if (initialised_) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

}  // namespace stemflow::mpi
