// SPDX-License-Identifier: GPL-3.0-or-later
// membw: this machine's memory read bandwidth, the ceiling of a replay that only reads its frames
// (virtual detectors and CoM touch every pixel once). Each of T threads sums its share of a buffer
// much larger than the caches, 64-bit words, so the loop is bound by the loads; best of REPEATS.
//   membw [MIB] [REPEATS]   (default 1024 MiB, 5): one line per thread count, 1 .. the CPUs
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

std::uint64_t sum_range(const std::uint64_t* p, std::size_t n) {
  // Four accumulators keep the adds off the critical path; the loads set the pace.
  std::uint64_t a = 0, b = 0, c = 0, d = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  for (; i < n; ++i) a += p[i];
  return a + b + c + d;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1024;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 5;
  const std::size_t words = mib * (1u << 20) / sizeof(std::uint64_t);
  std::vector<std::uint64_t> buf(words);
  for (std::size_t i = 0; i < words; ++i) buf[i] = i;  // touched: no page fault while timed
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  std::printf("| threads | read GB/s (best of %d, %zu MiB) |\n|---|---|\n", repeats, mib);
  volatile std::uint64_t sink = 0;
  for (unsigned t = 1; t <= cpus; ++t) {
    double best = 0;
    for (int r = 0; r < repeats; ++r) {
      std::vector<std::uint64_t> partial(t);
      std::vector<std::thread> pool;
      const auto t0 = std::chrono::steady_clock::now();
      for (unsigned k = 0; k < t; ++k) {
        pool.emplace_back([&, k] {
          const std::size_t begin = words * k / t, end = words * (k + 1) / t;
          partial[k] = sum_range(buf.data() + begin, end - begin);
        });
      }
      for (auto& th : pool) th.join();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      for (auto v : partial) sink = sink + v;
      best = std::max(best, double(words * sizeof(std::uint64_t)) / s / 1e9);
    }
    std::printf("| %u | %.2f |\n", t, best);
  }
  return sink == 42 ? 1 : 0;  // keeps the sums alive; never 42 for this buffer
}
