// SPDX-License-Identifier: GPL-3.0-or-later
#include "sinks/dashboard/dashboard_sink.hpp"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <limits>

#include "sinks/dashboard/web_assets.hpp"

namespace stemflow::sinks {

namespace {

// Sizes of the input the sink node fills between two builder ticks. Past them positions are counted
// as skipped (the series-end package repairs the maps); at 10 ticks/s this is > 1 M frames/s.
constexpr std::size_t kMaxTickPositions = std::size_t{1} << 17;
constexpr std::size_t kMaxTickPeaks = std::size_t{1} << 19;
// An idle stream still writes now and then, so that a browser that went away is noticed.
constexpr auto kKeepAlive = std::chrono::seconds(15);
// A browser that takes nothing for this long (a stuck socket) is dropped by civetweb.
constexpr const char* kWriteTimeoutMs = "5000";

// Listening address of "host:port" as something to connect to (a wildcard means loopback).
std::string connect_host(const std::string& listen) {
  const auto colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? std::string() : listen.substr(0, colon);
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  return host;
}

std::string make_epoch() {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  char buf[32];
  std::snprintf(
      buf,
      sizeof buf,
      "%llx",
      static_cast<unsigned long long>(ns) ^ (static_cast<unsigned long long>(::getpid()) << 40));
  return buf;
}

int send_body(mg_connection* conn,
              int status,
              const char* reason,
              std::string_view mime,
              std::string_view body) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
            status,
            reason,
            static_cast<int>(mime.size()),
            mime.data(),
            body.size());
  mg_write(conn, body.data(), body.size());
  return status;
}

std::string query_var(const mg_request_info* ri, const char* name) {
  if (ri->query_string == nullptr) return {};
  char buf[128];
  const int n = mg_get_var(ri->query_string, std::strlen(ri->query_string), name, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

std::uint64_t to_u64(const std::string& s, std::uint64_t fallback) {
  if (s.empty()) return fallback;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  return end != nullptr && *end == '\0' ? v : fallback;
}

// The data line of a formatted event: the JSON document alone.
std::string_view event_json(const std::string& event) {
  const auto at = event.find("\ndata: ");
  if (at == std::string::npos) return {};
  std::string_view s(event);
  s.remove_prefix(at + 7);
  while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  return s;
}

}  // namespace

DashboardSink::DashboardSink(DashboardOptions options)
    : options_(std::move(options)), epoch_(make_epoch()), model_(epoch_, options_.limits) {
  const std::string threads = std::to_string(std::max(1, options_.max_clients) + 4);
  const char* opts[] = {"listening_ports",
                        options_.listen.c_str(),
                        "num_threads",
                        threads.c_str(),
                        "request_timeout_ms",
                        kWriteTimeoutMs,
                        nullptr};
  // Keep-alive stays at civetweb's default (off: every response ends its connection). Setting it,
  // or a log_message callback, makes civetweb 1.15's mg_stop take 2 s longer.
  mg_callbacks cb{};
  ctx_ = mg_start(&cb, nullptr, opts);
  if (ctx_ == nullptr) {
    throw ConfigError("outputs.dashboard.listen '" + options_.listen +
                      "': cannot serve (address in use, or not host:port)");
  }
  mg_set_request_handler(ctx_, "/", &DashboardSink::handle_request, this);
  builder_ = std::thread([this] { builder_loop(); });
}

DashboardSink::~DashboardSink() {
  {
    std::lock_guard lk(state_mutex_);
    closing_ = true;
  }
  state_cv_.notify_all();
  {
    std::lock_guard lk(in_mutex_);
    stopping_ = true;
  }
  builder_cv_.notify_all();
  if (builder_.joinable()) builder_.join();
  // mg_stop waits for the browsers' threads, which leave their loops on closing_ (or their write
  // timeout), and for civetweb's listener, which only sees the stop flag when its poll() returns:
  // after 2 s, or at once when a connection comes. So knock until it has stopped.
  std::atomic<bool> stopped{false};
  std::thread knock([this, &stopped, port = port()] {
    while (!stopped.load() && port > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      knock_once(port);
    }
  });
  mg_stop(ctx_);
  stopped.store(true);
  knock.join();
}

void DashboardSink::knock_once(int port) const {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, connect_host(options_.listen).c_str(), &a.sin_addr) == 1) {
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  ::close(fd);
}

int DashboardSink::port() const {
  mg_server_port ports[4];
  const int n = mg_get_server_ports(ctx_, 4, ports);
  return n > 0 ? ports[0].port : -1;
}

std::uint64_t DashboardSink::last_seq() const {
  std::lock_guard lk(state_mutex_);
  return model_.log().last_seq();
}

void DashboardSink::series_started(const ResultStore& store, const Provenance&) {
  SeriesPackage pkg;
  pkg.info = describe_series(store.series(), store.outputs());
  const std::size_t n = store.series().scan_size();
  const std::size_t nm = pkg.info.maps.size();
  const std::size_t positions = std::min(n, kMaxTickPositions);
  std::size_t peaks = 0;
  if (pkg.info.peak_op) {
    peaks =
        std::min<std::size_t>(kMaxTickPeaks, n * store.outputs()[*pkg.info.peak_op].spec.max_peaks);
  }
  maps_ = pkg.info.maps;
  peak_op_ = pkg.info.peak_op;
  failed_seen_ = 0;
  live_seen_ = 0;
  sampling_ = options_.sample_rate > 0;
  if (sampling_) {
    sample_interval_ = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(1.0 / options_.sample_rate));
  }
  next_sample_ = std::chrono::steady_clock::now();
  {
    std::lock_guard lk(in_mutex_);
    // Whatever the builder has not taken yet belongs to the previous series: the new one replaces
    // it.
    in_.clear();
    in_.reset = std::move(pkg);
    last_counts_ = SeriesCounts{};
    // Allocation is fine here (single-threaded, before the first batch), never in batch_consumed.
    in_.pos.reserve(positions);
    in_.vals.reserve(positions * nm);
    in_.peak_frames.reserve(peaks ? positions : 0);
    in_.peaks.reserve(peaks);
    in_.sample.resize(sampling_ ? store.series().frame_bytes() : 0);
    want_positions_ = positions;
    want_vals_ = positions * nm;
    want_peaks_ = peaks;
    want_sample_ = in_.sample.size();
    wake_ = true;
  }
  builder_cv_.notify_one();
}

void DashboardSink::batch_done(const FrameBatch& batch, const ResultStore& store) {
  try {
    const auto now = std::chrono::steady_clock::now();
    const double latency = std::chrono::duration<double>(now - batch.first_arrival).count();
    const std::uint64_t failed = store.frames_failed();
    const std::size_t nm = maps_.size();
    std::lock_guard lk(in_mutex_);
    totals_.processed += batch.count;
    totals_.batches += 1;
    totals_.latency_sum += latency;
    totals_.latency_max = std::max(totals_.latency_max, latency);
    if (failed > failed_seen_) {
      totals_.dropped[std::size_t(DropReason::kOperatorError)] += failed - failed_seen_;
      failed_seen_ = failed;
    }
    // Only within the capacity reserved at series start: push_back never allocates here.
    for (std::uint32_t i = 0; i < batch.count; ++i) {
      const std::uint64_t pos = batch.index[i];
      if (in_.pos.size() == in_.pos.capacity() || in_.vals.size() + nm > in_.vals.capacity() ||
          pos > std::numeric_limits<std::uint32_t>::max()) {
        in_.skipped += 1;
        continue;
      }
      in_.pos.push_back(static_cast<std::uint32_t>(pos));
      for (const auto& m : maps_) {
        in_.vals.push_back(m.peak_count ? float(store.peak_counts(m.op)[pos])
                                        : float(store.map(m.op, m.scalar)[pos]));
      }
      if (peak_op_) {
        const auto peaks = store.peaks(*peak_op_, pos);
        if (in_.peak_frames.size() < in_.peak_frames.capacity() &&
            in_.peaks.size() + peaks.size() <= in_.peaks.capacity()) {
          in_.peak_frames.push_back(
              {static_cast<std::uint32_t>(pos), static_cast<std::uint32_t>(peaks.size())});
          for (const Peak& p : peaks) {
            in_.peaks.push_back({float(p.qx), float(p.qy), float(p.intensity)});
          }
        }
      }
    }
    if (store.live_generation() != live_seen_) {
      // New live images (the engine's preview, at most every update interval): copied into the
      // input's buffers, which keep their capacity from one preview to the next.
      live_seen_ = store.live_generation();
      std::size_t k = 0;
      for (std::size_t o = 0; o < store.outputs().size(); ++o) {
        for (const auto& img : store.live_images(o)) {
          if (in_.images.size() <= k) in_.images.emplace_back();
          auto& dst = in_.images[k++];
          dst.suffix = store.outputs()[o].name + (img.suffix.empty() ? "" : "_" + img.suffix);
          dst.rows = img.rows;
          dst.cols = img.cols;
          dst.values.assign(img.values.begin(), img.values.end());
          dst.units = img.units;
          dst.space = img.space;
          dst.diverging = img.diverging;
        }
      }
      in_.images.resize(k);
      in_.has_images = true;
    }
    if (sampling_ && now >= next_sample_ && !in_.has_sample && batch.count > 0 &&
        in_.sample.size() == batch.frame_bytes) {
      std::memcpy(in_.sample.data(), batch.frame_data(batch.count / 2), batch.frame_bytes);
      in_.has_sample = true;
      next_sample_ = now + sample_interval_;
    }
  } catch (...) {
    // Nothing may leave a sink node body; the dashboard is lossy, a lost batch only shows as a gap
    // until the series-end package fills it.
  }
}

Expected<std::string> DashboardSink::series_ended(const ResultStore& store,
                                                  const Provenance& prov) {
  try {
    SeriesPackage pkg;
    pkg.info = describe_series(store.series(), store.outputs());
    pkg.ended = true;
    pkg.end = prov.counts.end;
    const std::size_t n = store.series().scan_size();
    pkg.values.resize(pkg.info.maps.size());
    const auto& coverage = store.coverage();
    for (std::size_t m = 0; m < pkg.info.maps.size(); ++m) {
      const auto& src = pkg.info.maps[m];
      auto& dst = pkg.values[m];
      dst.resize(n);
      for (std::size_t p = 0; p < n; ++p) {
        if (src.peak_count) {
          dst[p] = coverage[p] ? float(store.peak_counts(src.op)[p])
                               : std::numeric_limits<float>::quiet_NaN();
        } else {
          dst[p] = float(store.map(src.op, src.scalar)[p]);
        }
      }
    }
    if (pkg.info.mean_op && !store.series_images(*pkg.info.mean_op).empty()) {
      pkg.mean_pattern = store.series_images(*pkg.info.mean_op).front();
    }
    // The operators' other per-series images (the mean pattern has its own panel).
    for (std::size_t o = 0; o < store.outputs().size(); ++o) {
      if (pkg.info.mean_op && *pkg.info.mean_op == o) continue;
      for (const auto& img : store.series_images(o)) {
        pkg.images.push_back(img);
        pkg.images.back().suffix =
            store.outputs()[o].name + (img.suffix.empty() ? "" : "_" + img.suffix);
      }
    }
    {
      std::lock_guard lk(in_mutex_);
      // The final maps supersede whatever positions the builder has not taken yet.
      in_.clear();
      in_.reset = std::move(pkg);
      wake_ = true;
    }
    builder_cv_.notify_one();
  } catch (const std::exception& e) {
    return make_error("dashboard", std::string("final results not shown: ") + e.what());
  }
  series_counts(prov.counts);
  return std::string("dashboard");
}

void DashboardSink::source_counts(const SeriesCounts& series, bool in_series, const SeriesCounts&) {
  if (in_series) series_counts(series);
}

void DashboardSink::series_counts(const SeriesCounts& c) {
  std::lock_guard lk(in_mutex_);
  // Within a series the source's counters only grow; fold the growth into engine-wide totals.
  if (c.frames_received > last_counts_.frames_received) {
    totals_.received += c.frames_received - last_counts_.frames_received;
  }
  for (std::size_t r = 0; r < kDropReasonCount; ++r) {
    if (c.dropped[r] > last_counts_.dropped[r])
      totals_.dropped[r] += c.dropped[r] - last_counts_.dropped[r];
  }
  last_counts_ = c;
}

void DashboardSink::builder_loop() {
  auto next = std::chrono::steady_clock::now();
  std::unique_lock lk(in_mutex_);
  while (!stopping_) {
    next += options_.update_interval;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;  // after a stall, tick at the usual rate instead of catching up
    builder_cv_.wait_until(lk, next, [this] { return stopping_ || wake_; });
    if (stopping_) break;
    wake_ = false;
    const std::size_t want_positions = want_positions_, want_peaks = want_peaks_;
    const std::size_t want_vals = want_vals_, want_sample = want_sample_;
    // Size the buffers we hand back outside the lock; the swap itself is O(1).
    lk.unlock();
    try {
      spare_.pos.reserve(want_positions);
      spare_.vals.reserve(want_vals);
      spare_.peak_frames.reserve(want_peaks ? want_positions : 0);
      spare_.peaks.reserve(want_peaks);
      spare_.sample.resize(want_sample);
    } catch (const std::bad_alloc&) {
      spare_ = TickInput{};  // the sink then skips positions until memory is back
    }
    lk.lock();
    std::swap(in_, spare_);
    const Totals totals = totals_;
    totals_.latency_max = 0;
    lk.unlock();
    bool appended = false;
    try {
      std::lock_guard st(state_mutex_);
      appended = model_.apply(spare_, totals, std::chrono::system_clock::now());
    } catch (const std::exception& e) {
      spdlog::warn("dashboard: update dropped: {}", e.what());
    }
    if (appended) state_cv_.notify_all();
    spare_.clear();
    lk.lock();
  }
}

int DashboardSink::handle_request(mg_connection* conn, void* self) {
  try {
    return static_cast<DashboardSink*>(self)->handle(conn);
  } catch (const std::exception& e) {
    spdlog::warn("dashboard: request failed: {}", e.what());
    return 500;
  }
}

int DashboardSink::handle(mg_connection* conn) {
  const mg_request_info* ri = mg_get_request_info(conn);
  const std::string_view uri = ri->local_uri != nullptr ? ri->local_uri : "/";
  if (std::strcmp(ri->request_method, "GET") != 0 && std::strcmp(ri->request_method, "HEAD") != 0) {
    return send_body(conn, 405, "Method Not Allowed", "text/plain", "GET only\n");
  }
  if (uri == "/events") return serve_events(conn);
  if (uri == "/api/snapshot") {
    DeltaLog::Event e;
    {
      std::lock_guard lk(state_mutex_);
      e = model_.snapshot_event();
    }
    return send_body(conn, 200, "OK", "application/json", event_json(*e));
  }
  if (uri == "/api/health") {
    const std::string body = "{\"epoch\":\"" + epoch_ + "\",\"seq\":" + std::to_string(last_seq()) +
                             ",\"clients\":" + std::to_string(clients_.load()) + "}";
    return send_body(conn, 200, "OK", "application/json", body);
  }
  if (uri == "/api/peaks") {
    const std::uint64_t i = to_u64(query_var(ri, "i"), ~std::uint64_t{0});
    std::string body;
    {
      std::lock_guard lk(state_mutex_);
      body = model_.peaks_json(i);
    }
    return send_body(conn, 200, "OK", "application/json", body);
  }
  const std::string_view path = uri == "/" ? "/index.html" : uri;
  for (const auto& a : web_assets()) {
    if (a.path == path) return send_body(conn, 200, "OK", a.mime, a.data);
  }
  return send_body(conn, 404, "Not Found", "text/plain", "not found\n");
}

int DashboardSink::serve_events(mg_connection* conn) {
  struct ClientSlot {
    std::atomic<int>& n;
    ~ClientSlot() { --n; }
  } slot{clients_};
  if (++clients_ > options_.max_clients) {
    return send_body(conn,
                     503,
                     "Service Unavailable",
                     "text/plain",
                     "too many dashboard clients (outputs.dashboard.max_clients)\n");
  }
  const mg_request_info* ri = mg_get_request_info(conn);
  std::optional<EventId> last;
  if (const char* h = mg_get_header(conn, "Last-Event-ID"); h != nullptr && *h != '\0') {
    last = parse_event_id(h);
  } else if (const auto q = query_var(ri, "last_id"); !q.empty()) {
    last = parse_event_id(q);
  }
  const std::uint64_t max_events = to_u64(query_var(ri, "max_events"), 0);

  static constexpr std::string_view kHead =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "Connection: close\r\nX-Accel-Buffering: no\r\n\r\n"
      "retry: 1000\n\n";
  if (mg_write(conn, kHead.data(), kHead.size()) <= 0) return 200;

  std::vector<DeltaLog::Event> events;
  std::uint64_t seq = 0;
  {
    std::lock_guard lk(state_mutex_);
    auto r = model_.log().resume(last);
    if (r.kind == DeltaLog::ResumeKind::kSnapshot) {
      events.push_back(model_.snapshot_event());
    } else {
      events = std::move(r.events);
    }
    seq = model_.log().last_seq();
  }
  std::uint64_t sent = 0;
  for (;;) {
    // Written outside the lock: a slow browser holds up only its own thread.
    for (const auto& e : events) {
      if (mg_write(conn, e->data(), e->size()) <= 0) return 200;
      if (max_events > 0 && ++sent >= max_events) return 200;
    }
    events.clear();
    bool idle = false;
    {
      std::unique_lock lk(state_mutex_);
      idle = !state_cv_.wait_for(
          lk, kKeepAlive, [&] { return closing_ || model_.log().last_seq() != seq; });
      if (closing_) return 200;
      if (!idle) {
        auto r = model_.log().since(seq);
        if (r.kind == DeltaLog::ResumeKind::kSnapshot) {
          events.push_back(model_.snapshot_event());
        } else {
          events = std::move(r.events);
        }
        seq = model_.log().last_seq();
      }
    }
    if (idle) {
      static constexpr std::string_view kPing = ": keep-alive\n\n";
      if (mg_write(conn, kPing.data(), kPing.size()) <= 0) return 200;
    }
  }
}

}  // namespace stemflow::sinks
