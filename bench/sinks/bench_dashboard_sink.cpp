// SPDX-License-Identifier: GPL-3.0-or-later
// bench_dashboard_sink: what the live dashboard costs the engine, without the noise of a whole
// pipeline on a shared machine. Batches of 64 frames (three virtual images and a centre of mass:
// five maps, like bench/ingest) are fed to DashboardSink at a fixed frame rate for a few seconds,
// with two clients reading the event stream as browsers do. Reported:
//   sink node   mean time of batch_consumed (what the pipeline's serial sink node spends), and that
//               time as a share of one core at this frame rate;
//   all threads CPU time of the whole process (sink node + builder thread + the clients' civetweb
//               threads) minus the same feeding loop without the dashboard, as a share of one core.
// Usage: bench_dashboard_sink [SECONDS]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <string>
#include <thread>

#include "sinks/dashboard/dashboard_sink.hpp"

using namespace stemflow;
using namespace stemflow::sinks;
using Clock = std::chrono::steady_clock;

namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

double process_cpu_seconds() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

//! Reads the event stream as fast as it comes, like an attached browser.
class Reader {
 public:
  explicit Reader(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    const char req[] = "GET /events HTTP/1.1\r\nHost: x\r\n\r\n";
    ::send(fd_, req, sizeof req - 1, MSG_NOSIGNAL);
    thread_ = std::thread([this] {
      char buf[65536];
      for (ssize_t n; (n = ::recv(fd_, buf, sizeof buf, 0)) > 0;) bytes_ += std::size_t(n);
    });
  }
  ~Reader() {
    ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  std::size_t bytes() const { return bytes_; }

 private:
  int fd_;
  std::thread thread_;
  std::size_t bytes_ = 0;
};

struct Result {
  double cpu = 0;           // process CPU seconds
  double sink_seconds = 0;  // summed batch_consumed time
  std::uint64_t batches = 0;
  double seconds = 0;
  std::size_t stream_bytes = 0;
};

Result feed(std::uint32_t q, double fps, double seconds, bool dashboard) {
  constexpr std::uint32_t kBatch = 64, kScan = 400;
  SeriesHeader h;
  h.series_id = 1;
  h.scan_rows = h.scan_cols = kScan;
  h.frame_rows = h.frame_cols = q;
  h.dtype = Dtype::kU16;
  const std::vector<OutputInfo> outputs = {
      {"bf", "virtual_image", {{{"", "counts"}}, 0}, {}},
      {"adf", "virtual_image", {{{"", "counts"}}, 0}, {}},
      {"com", "center_of_mass", {{{"qx", "px"}, {"qy", "px"}, {"intensity", "counts"}}, 0}, {}}};
  ResultStore store;
  store.start(h, outputs);
  std::vector<std::uint16_t> pixels(std::size_t{kBatch} * h.frame_pixels(), 7);
  FrameBatch b;
  b.series = &h;
  b.count = b.capacity = kBatch;
  b.frame_bytes = h.frame_bytes();
  b.pixels = reinterpret_cast<std::byte*>(pixels.data());
  b.index.resize(kBatch);
  b.results.resize(outputs.size());
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    b.results[o].scalars_per_frame = static_cast<std::uint32_t>(outputs[o].spec.scalars.size());
    b.results[o].resize(kBatch);
    std::fill(b.results[o].scalars.begin(), b.results[o].scalars.end(), 1.5);
  }
  std::unique_ptr<DashboardSink> sink;
  std::unique_ptr<Reader> r1, r2;
  if (dashboard) {
    DashboardOptions opt;
    opt.listen = "127.0.0.1:" + std::to_string(free_port());
    sink = std::make_unique<DashboardSink>(opt);
    r1 = std::make_unique<Reader>(sink->port());
    r2 = std::make_unique<Reader>(sink->port());
    sink->series_started(store, {});
  }
  Result res;
  const auto period = std::chrono::duration<double>(kBatch / fps);
  const auto t0 = Clock::now();
  const double c0 = process_cpu_seconds();
  std::uint64_t next = 0;
  for (auto due = t0; Clock::now() - t0 < std::chrono::duration<double>(seconds);) {
    due += std::chrono::duration_cast<Clock::duration>(period);
    std::this_thread::sleep_until(due);
    for (std::uint32_t i = 0; i < kBatch; ++i) b.index[i] = (next + i) % h.scan_size();
    next += kBatch;
    b.first_arrival = Clock::now();
    store.consume(b);
    if (sink) {
      const auto s0 = Clock::now();
      sink->batch_done(b, store);
      res.sink_seconds += std::chrono::duration<double>(Clock::now() - s0).count();
    }
    ++res.batches;
  }
  res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  res.cpu = process_cpu_seconds() - c0;
  if (r1) res.stream_bytes = r1->bytes() + r2->bytes();
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  std::printf(
      "| frame | frames/s | sink node per batch of 64 | sink node, share of a core | "
      "all dashboard threads, share of a core | event stream to 2 clients |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (std::uint32_t q : {128u, 256u}) {
    for (double fps : {10000.0, 40000.0}) {
      const Result base = feed(q, fps, seconds, false);
      const Result dash = feed(q, fps, seconds, true);
      std::printf("| %ux%u u16 | %.0f | %.2f us | %.3f %% | %.2f %% | %.0f kB/s |\n",
                  q,
                  q,
                  double(dash.batches * 64) / dash.seconds,
                  1e6 * dash.sink_seconds / double(dash.batches),
                  100.0 * dash.sink_seconds / dash.seconds,
                  100.0 * (dash.cpu / dash.seconds - base.cpu / base.seconds),
                  double(dash.stream_bytes) / dash.seconds / 1e3);
    }
  }
  return 0;
}
