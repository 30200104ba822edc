// SPDX-License-Identifier: GPL-3.0-or-later
// The dashboard's delta/sequence/resume logic without a browser: the delta log's ring and resume
// rules, the model's deltas as a browser applies them (continuous, resumed, resynchronised by a
// snapshot), the series-end repair, the peak ring, and the sink over real HTTP (Last-Event-ID).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "sinks/dashboard/dashboard_model.hpp"
#include "sinks/dashboard/dashboard_sink.hpp"
#include "tests/sinks/test_dashboard_http.hpp"
#include "tests/support/process.hpp"

using namespace stemflow;
using namespace stemflow::sinks;
using std::chrono::milliseconds;
using Json = nlohmann::json;
using test::SseEvent;

namespace {

std::vector<std::uint8_t> unbase64(const std::string& s) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::vector<std::uint8_t> out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    const int v = val(c);
    if (v < 0) continue;  // padding
    acc = (acc << 6) | std::uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  return out;
}

template <class T>
std::vector<T> decode(const std::string& b64) {
  const auto bytes = unbase64(b64);
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

bool same(float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

//! What a browser keeps: applies snapshots and deltas the way web/app.js does, and checks the
//! sequence (a delta must follow the last one applied).
struct Browser {
  std::int64_t seq = -1;
  std::vector<std::vector<float>> maps;
  std::size_t snapshots = 0, deltas = 0, gaps = 0;

  void set_maps(const Json& series, const Json& ms) {
    const std::size_t n = series.is_null() ? 0
                                           : series["scan"][0].get<std::size_t>() *
                                                 series["scan"][1].get<std::size_t>();
    maps.assign(ms.size(), std::vector<float>(n, NAN));
    for (std::size_t m = 0; m < ms.size(); ++m) {
      if (!ms[m]["data"].is_null()) maps[m] = decode<float>(ms[m]["data"]);
    }
  }
  void apply(const SseEvent& e) {
    const Json j = Json::parse(e.data);
    if (e.type == "snapshot") {
      set_maps(j["series"], j["maps"]);
      seq = j["seq"];
      ++snapshots;
      return;
    }
    if (j["seq"].get<std::int64_t>() != seq + 1) {
      ++gaps;
      return;
    }
    if (j.contains("reset")) set_maps(j["reset"]["series"], j["reset"]["maps"]);
    if (j.contains("pos")) {
      const auto pos = decode<std::uint32_t>(j["pos"]);
      for (std::size_t m = 0; m < maps.size(); ++m) {
        const auto v = decode<float>(j["vals"][m]);
        EXPECT_EQ(v.size(), pos.size());
        for (std::size_t i = 0; i < pos.size(); ++i) maps[m][pos[i]] = v[i];
      }
    }
    seq = j["seq"];
    ++deltas;
  }
  void apply(const DeltaLog::Event& e) {
    // Formatted events are what the server writes: parse them back like the SSE reader does.
    SseEvent ev;
    std::size_t from = 0;
    while (from < e->size()) {
      const auto nl = e->find('\n', from);
      const std::string line = e->substr(from, nl - from);
      from = nl + 1;
      if (line.rfind("id: ", 0) == 0) ev.id = line.substr(4);
      if (line.rfind("event: ", 0) == 0) ev.type = line.substr(7);
      if (line.rfind("data: ", 0) == 0) ev.data = line.substr(6);
    }
    apply(ev);
  }
};

SeriesHeader header(std::uint32_t rows, std::uint32_t cols, std::uint64_t id = 7) {
  SeriesHeader h;
  h.series_id = id;
  h.scan_rows = rows;
  h.scan_cols = cols;
  h.frame_rows = h.frame_cols = 4;
  h.dtype = Dtype::kU16;
  return h;
}

std::vector<OutputInfo> outputs(std::uint32_t max_peaks = 0) {
  std::vector<OutputInfo> o;
  o.push_back({"bf",
               "virtual_image",
               {{{"", "counts"}}, 0},
               {{"detector", "circle"}, {"center", "2 2"}, {"radius", "1"}}});
  o.push_back({"com", "center_of_mass", {{{"qx", "px"}, {"qy", "px"}}, 0}, {}});
  if (max_peaks) o.push_back({"bragg", "bragg_disks", {{}, max_peaks}, {}});
  return o;
}

//! The value the tests put at position p of map m.
float truth(std::size_t m, std::uint32_t p) { return float(100 * m + p) + 0.25f; }

TickInput positions(std::uint32_t first, std::uint32_t count, std::size_t maps) {
  TickInput in;
  for (std::uint32_t p = first; p < first + count; ++p) {
    in.pos.push_back(p);
    for (std::size_t m = 0; m < maps; ++m) in.vals.push_back(truth(m, p));
  }
  return in;
}

using Clock = std::chrono::system_clock;

}  // namespace

// Spec: event ids are "<epoch>-<seq>"; anything else is no id (the client gets a snapshot).
TEST(DeltaLog, ParsesEventIds) {
  auto id = parse_event_id("18cfb6-42");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->epoch, "18cfb6");
  EXPECT_EQ(id->seq, 42u);
  EXPECT_FALSE(parse_event_id(""));
  EXPECT_FALSE(parse_event_id("42"));
  EXPECT_FALSE(parse_event_id("-42"));
  EXPECT_FALSE(parse_event_id("abc-"));
  EXPECT_FALSE(parse_event_id("abc-4x2"));
  EXPECT_EQ(format_sse("e", 3, "delta", "{}"), "id: e-3\nevent: delta\ndata: {}\n\n");
}

// Spec: a client that last saw n gets deltas n+1.. in order while the ring holds them; when they
// are gone, its id is of another epoch, from the future, or missing, it gets a snapshot.
TEST(DeltaLog, ResumesFromTheRingOrAsksForASnapshot) {
  DeltaLog log("ep", 4, 1 << 20);
  EXPECT_EQ(log.resume(EventId{"ep", 0}).kind, DeltaLog::ResumeKind::kUpToDate);
  for (int i = 1; i <= 6; ++i)
    EXPECT_EQ(log.append("{\"n\":" + std::to_string(i) + "}"), std::uint64_t(i));
  EXPECT_EQ(log.size(), 4u);
  EXPECT_EQ(log.first_seq(), 3u);

  auto r = log.resume(EventId{"ep", 3});
  ASSERT_EQ(r.kind, DeltaLog::ResumeKind::kDeltas);
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(*r.events[0], "id: ep-4\nevent: delta\ndata: {\"n\":4}\n\n");
  EXPECT_EQ(*r.events[2], "id: ep-6\nevent: delta\ndata: {\"n\":6}\n\n");
  EXPECT_EQ(log.resume(EventId{"ep", 2}).events.size(), 4u);  // 3..6: the oldest held still fits
  EXPECT_EQ(log.resume(EventId{"ep", 6}).kind, DeltaLog::ResumeKind::kUpToDate);
  EXPECT_EQ(log.resume(EventId{"ep", 1}).kind, DeltaLog::ResumeKind::kSnapshot);  // 2 is gone
  EXPECT_EQ(log.resume(EventId{"other", 5}).kind, DeltaLog::ResumeKind::kSnapshot);
  EXPECT_EQ(log.resume(EventId{"ep", 7}).kind, DeltaLog::ResumeKind::kSnapshot);
  EXPECT_EQ(log.resume(std::nullopt).kind, DeltaLog::ResumeKind::kSnapshot);
}

// Edge case: the byte bound evicts old deltas too, but the newest always stays.
TEST(DeltaLog, EvictsByBytesKeepingTheNewest) {
  DeltaLog log("ep", 100, 200);
  log.append(std::string(50, 'a'));
  log.append(std::string(50, 'b'));
  EXPECT_EQ(log.size(), 2u);
  log.append(std::string(500, 'c'));  // alone over the bound: kept, the others go
  EXPECT_EQ(log.size(), 1u);
  EXPECT_EQ(log.first_seq(), 3u);
  EXPECT_EQ(log.resume(EventId{"ep", 2}).events.size(), 1u);
  EXPECT_EQ(log.resume(EventId{"ep", 1}).kind, DeltaLog::ResumeKind::kSnapshot);
}

// Spec: three browsers end with the same maps as the model and the truth: one connected all along,
// one that disconnects and resumes from the ring, one away too long that is given a snapshot.
TEST(DashboardModel, ResumedAndResynchronisedClientsEndWithTheSameMaps) {
  DashboardModel::Limits lim;
  lim.ring_events = 5;
  DashboardModel model("ep", lim);
  Totals totals;
  auto now = Clock::now();
  TickInput start;
  start.reset = SeriesPackage{describe_series(header(8, 10), outputs()), false, {}, {}, {}};
  ASSERT_EQ(start.reset->info.maps.size(), 3u);  // bf, com_qx, com_qy
  ASSERT_TRUE(model.apply(start, totals, now));

  Browser always, resumed, late;
  always.apply(model.snapshot_event());
  resumed.apply(model.snapshot_event());
  late.apply(model.snapshot_event());
  EXPECT_EQ(always.seq, 1);

  std::uint64_t seen = model.log().last_seq();
  auto feed = [&](Browser& b) {
    const auto r = model.log().since(std::uint64_t(b.seq));
    if (r.kind == DeltaLog::ResumeKind::kSnapshot) {
      b.apply(model.snapshot_event());
    } else {
      for (const auto& e : r.events) b.apply(e);
    }
  };
  for (std::uint32_t t = 0; t < 8; ++t) {
    auto in = positions(t * 10, 10, 3);
    now += milliseconds(100);
    ASSERT_TRUE(model.apply(in, totals, now));
    feed(always);
    if (t < 2 || t >= 5) feed(resumed);  // away for ticks 2..4: 3 deltas, the ring holds 5
    if (t < 1) feed(late);               // away for 7 ticks: more than the ring holds
  }
  feed(late);
  EXPECT_GT(model.log().last_seq(), seen);
  for (const Browser* b : {&always, &resumed, &late}) {
    EXPECT_EQ(b->gaps, 0u);
    EXPECT_EQ(std::uint64_t(b->seq), model.log().last_seq());
    ASSERT_EQ(b->maps.size(), 3u);
    for (std::size_t m = 0; m < 3; ++m) {
      for (std::uint32_t p = 0; p < 80; ++p) {
        ASSERT_TRUE(same(b->maps[m][p], truth(m, p))) << m << " " << p;
        ASSERT_TRUE(same(b->maps[m][p], model.map(m)[p]));
      }
    }
  }
  EXPECT_EQ(always.snapshots, 1u);
  EXPECT_EQ(resumed.snapshots, 1u);  // resumed from the ring: no second snapshot
  EXPECT_EQ(late.snapshots, 2u);     // fell out of the ring: a snapshot brought it back
  EXPECT_EQ(model.covered(), 80u);
}

// Spec: positions the live path skipped are repaired at series end by a delta carrying only them;
// a new series is a reset that clears the maps.
TEST(DashboardModel, SeriesEndRepairsSkippedPositions) {
  DashboardModel model("ep", {});
  Totals totals;
  auto now = Clock::now();
  const auto info = describe_series(header(2, 5), outputs());
  TickInput in;
  in.reset = SeriesPackage{info, false, {}, {}, {}};
  model.apply(in, totals, now);
  Browser b;
  b.apply(model.snapshot_event());
  auto live = positions(0, 8, 3);  // positions 8 and 9 never reached the dashboard live
  live.skipped = 2;
  model.apply(live, totals, now += milliseconds(100));
  for (const auto& e : model.log().since(std::uint64_t(b.seq)).events) b.apply(e);
  EXPECT_TRUE(std::isnan(b.maps[0][9]));

  TickInput end;
  SeriesPackage pkg{info, true, SeriesEnd::kComplete, {}, {}};
  for (std::size_t m = 0; m < 3; ++m) {
    pkg.values.emplace_back();
    for (std::uint32_t p = 0; p < 10; ++p) pkg.values[m].push_back(truth(m, p));
  }
  end.reset = pkg;
  const auto before = model.log().last_seq();
  ASSERT_TRUE(model.apply(end, totals, now += milliseconds(100)));
  const auto r = model.log().since(before);
  ASSERT_EQ(r.events.size(), 1u);
  const Json j = Json::parse(r.events[0]->substr(r.events[0]->find("data: ") + 6));
  EXPECT_FALSE(j.contains("reset"));
  EXPECT_EQ(decode<std::uint32_t>(j["pos"]), (std::vector<std::uint32_t>{8, 9}));
  EXPECT_EQ(j["status"]["state"], "ended");
  b.apply(r.events[0]);
  for (std::uint32_t p = 0; p < 10; ++p) EXPECT_EQ(b.maps[2][p], truth(2, p));

  TickInput next;
  next.reset = SeriesPackage{describe_series(header(2, 5, 8), outputs()), false, {}, {}, {}};
  model.apply(next, totals, now += milliseconds(100));
  for (const auto& e : model.log().since(std::uint64_t(b.seq)).events) b.apply(e);
  EXPECT_TRUE(std::isnan(b.maps[0][0]));
  EXPECT_EQ(model.covered(), 0u);
}

// Spec: peaks of recent positions are served on demand; once the peak ring has wrapped past a
// position, it says "evicted" rather than returning another position's peaks.
TEST(DashboardModel, KeepsPeaksOfRecentPositions) {
  DashboardModel::Limits lim;
  lim.peak_ring = 6;
  DashboardModel model("ep", lim);
  Totals totals;
  TickInput in;
  in.reset = SeriesPackage{describe_series(header(2, 2), outputs(3)), false, {}, {}, {}};
  ASSERT_EQ(in.reset->info.maps.size(), 4u);  // bf, com_qx, com_qy, bragg_peak_count
  model.apply(in, totals, Clock::now());
  for (std::uint32_t p = 0; p < 3; ++p) {
    TickInput t = positions(p, 1, 4);
    t.peak_frames.push_back({p, 2});
    t.peaks.push_back({float(p), 1.f, 10.f});
    t.peaks.push_back({float(p), 2.f, 20.f});
    model.apply(t, totals, Clock::now());
  }
  const Json p2 = Json::parse(model.peaks_json(2));
  EXPECT_EQ(p2["status"], "ok");
  EXPECT_EQ(p2["peaks"], Json::parse("[[2,1,10],[2,2,20]]"));
  EXPECT_EQ(Json::parse(model.peaks_json(1))["status"], "ok");
  TickInput t = positions(3, 1, 4);
  t.peak_frames.push_back({3, 2});
  t.peaks.push_back({3.f, 1.f, 1.f});
  t.peaks.push_back({3.f, 2.f, 1.f});
  model.apply(t, totals, Clock::now());
  EXPECT_EQ(Json::parse(model.peaks_json(0))["status"], "evicted");
  EXPECT_EQ(Json::parse(model.peaks_json(3))["peaks"].size(), 2u);
  EXPECT_EQ(Json::parse(model.peaks_json(99))["status"], "none");
}

// Spec: a peak operator that already outputs a per-position count is shown with that map; one
// without scalars gets a peak-count map; a mean_pattern operator's image replaces the running mean
// at series end.
TEST(DashboardModel, PeakCountMapsAndTheFinalMeanPattern) {
  auto outs = outputs(3);
  outs.push_back({"bragg2", "bragg_disks", {{{"count", "peaks"}}, 5}, {}});
  outs.push_back({"mean", "mean_pattern", {}, {}});
  const auto info = describe_series(header(2, 2), outs);
  std::vector<std::string> names;
  for (const auto& m : info.maps) names.push_back(m.name);
  EXPECT_EQ(
      names,
      (std::vector<std::string>{"bf", "com_qx", "com_qy", "bragg_peak_count", "bragg2_count"}));
  ASSERT_TRUE(info.peak_op.has_value());
  EXPECT_EQ(*info.peak_op, 2u);
  ASSERT_TRUE(info.mean_op.has_value());
  EXPECT_EQ(*info.mean_op, 4u);

  DashboardModel model("ep", {});
  Totals totals;
  TickInput start;
  start.reset = SeriesPackage{info, false, {}, {}, {}};
  model.apply(start, totals, Clock::now());
  TickInput sample;
  sample.sample.assign(16 * sizeof(std::uint16_t), std::byte{0});
  reinterpret_cast<std::uint16_t*>(sample.sample.data())[5] = 8;
  sample.has_sample = true;
  model.apply(sample, totals, Clock::now() + std::chrono::seconds(2));
  Json snap =
      Json::parse(model.snapshot_event()->substr(model.snapshot_event()->find("data: ") + 6));
  EXPECT_EQ(snap["pattern"]["source"], "running_mean");
  EXPECT_EQ(decode<float>(snap["pattern"]["data"])[5], 8.f);

  SeriesPackage end{info, true, SeriesEnd::kComplete, {}, {}};
  end.values.assign(info.maps.size(), std::vector<float>(4, 1.f));
  end.mean_pattern = SeriesImage{"", 4, 4, std::vector<double>(16, 2.5), "counts"};
  TickInput fin;
  fin.reset = end;
  model.apply(fin, totals, Clock::now() + std::chrono::seconds(3));
  snap = Json::parse(model.snapshot_event()->substr(model.snapshot_event()->find("data: ") + 6));
  EXPECT_EQ(snap["pattern"]["source"], "mean_pattern");
  EXPECT_EQ(decode<float>(snap["pattern"]["data"]), std::vector<float>(16, 2.5f));
  EXPECT_EQ(snap["series"]["mean_operator"], "mean");
}

// Spec: the operators' live images (strain maps, the Bragg vector map) reach browsers in deltas
// and snapshots, whole, marked live, as often as image_bytes_per_second allows (here 24 B/s: one
// 24-byte image a second); the series-end images replace them, marked final, at once.
TEST(DashboardModel, OperatorImagesLiveThenFinal) {
  const auto info = describe_series(header(2, 3), outputs());
  DashboardModel::Limits lim;
  lim.image_bytes_per_second = 24;
  DashboardModel model("ep", lim);
  Totals totals;
  const auto t0 = Clock::now();
  TickInput start;
  start.reset = SeriesPackage{info, false, {}, {}, {}};
  model.apply(start, totals, t0);
  auto live = [](double v) {
    TickInput in;
    SeriesImage img{"strain_e_xx", 2, 3, std::vector<double>(6, v), "", ImageSpace::kReal, true};
    img.values[4] = NAN;
    in.images = {img};
    in.has_images = true;
    return in;
  };
  TickInput first = live(0.01);
  ASSERT_TRUE(model.apply(first, totals, t0 + std::chrono::seconds(2)));
  Json snap =
      Json::parse(model.snapshot_event()->substr(model.snapshot_event()->find("data: ") + 6));
  ASSERT_EQ(snap["images"].size(), 1u);
  EXPECT_EQ(snap["images"][0]["name"], "strain_e_xx");
  EXPECT_EQ(snap["images"][0]["space"], "real");
  EXPECT_EQ(snap["images"][0]["diverging"], true);
  EXPECT_EQ(snap["images"][0]["final"], false);
  const auto v = decode<float>(snap["images"][0]["data"]);
  ASSERT_EQ(v.size(), 6u);
  EXPECT_EQ(v[0], 0.01f);
  EXPECT_TRUE(std::isnan(v[4]));
  // A second live image within the second waits for it (no delta for it alone).
  TickInput second = live(0.02);
  EXPECT_FALSE(model.apply(second, totals, t0 + std::chrono::milliseconds(2100)));
  TickInput idle;
  ASSERT_TRUE(model.apply(idle, totals, t0 + std::chrono::milliseconds(3200)));
  snap = Json::parse(model.snapshot_event()->substr(model.snapshot_event()->find("data: ") + 6));
  EXPECT_EQ(decode<float>(snap["images"][0]["data"])[0], 0.02f);
  // The series end: final images.
  SeriesPackage end{info, true, SeriesEnd::kComplete, {}, {}};
  end.values.assign(info.maps.size(), std::vector<float>(6, 1.f));
  end.images = {
      SeriesImage{"strain_e_xx", 2, 3, std::vector<double>(6, 0.03), "", ImageSpace::kReal, true}};
  TickInput fin;
  fin.reset = end;
  ASSERT_TRUE(model.apply(fin, totals, t0 + std::chrono::milliseconds(3300)));
  snap = Json::parse(model.snapshot_event()->substr(model.snapshot_event()->find("data: ") + 6));
  EXPECT_EQ(snap["images"][0]["final"], true);
  EXPECT_EQ(decode<float>(snap["images"][0]["data"])[0], 0.03f);
}

// Spec: with the default limit, a small live image (a 32x32 scan's strain map) goes out in the
// very next delta: the dashboard shows it within one update interval.
TEST(DashboardModel, SmallImagesGoOutEveryTick) {
  const auto info = describe_series(header(32, 32), outputs());
  DashboardModel model("ep", {});
  Totals totals;
  const auto t0 = Clock::now();
  TickInput start;
  start.reset = SeriesPackage{info, false, {}, {}, {}};
  model.apply(start, totals, t0);
  for (int k = 1; k <= 3; ++k) {
    TickInput in;
    in.images = {SeriesImage{
        "strain_e_xx", 32, 32, std::vector<double>(1024, 0.001 * k), "", ImageSpace::kReal, true}};
    in.has_images = true;
    ASSERT_TRUE(model.apply(in, totals, t0 + std::chrono::milliseconds(100 * k))) << k;
    const Json snap =
        Json::parse(model.snapshot_event()->substr(model.snapshot_event()->find("data: ") + 6));
    EXPECT_EQ(decode<float>(snap["images"][0]["data"])[0], float(0.001 * k)) << k;
  }
}

namespace {

//! A store and batches for driving the sink as the engine does.
struct Feeder {
  ResultStore store;
  SeriesHeader h = header(16, 16);
  std::vector<std::uint16_t> pixels;

  explicit Feeder(std::uint16_t pixel_value) : pixels(h.frame_pixels(), pixel_value) {
    store.start(h, outputs());
  }
  //! A batch of positions [first, first + n) whose frames are all `pixels`.
  FrameBatch batch(std::uint32_t first, std::uint32_t n) {
    FrameBatch b;
    b.series = &h;
    b.count = b.capacity = n;
    b.frame_bytes = h.frame_bytes();
    frames.assign(std::size_t(n) * h.frame_pixels(), 0);
    for (std::uint32_t i = 0; i < n; ++i) {
      std::copy(
          pixels.begin(), pixels.end(), frames.begin() + std::ptrdiff_t(i * h.frame_pixels()));
      b.index.push_back(first + i);
    }
    b.pixels = reinterpret_cast<std::byte*>(frames.data());
    b.results.resize(2);
    b.results[0].scalars_per_frame = 1;
    b.results[1].scalars_per_frame = 2;
    for (auto& r : b.results) r.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      b.results[0].frame_scalars(i)[0] = truth(0, first + i);
      b.results[1].frame_scalars(i)[0] = truth(1, first + i);
      b.results[1].frame_scalars(i)[1] = truth(2, first + i);
    }
    b.first_arrival = std::chrono::steady_clock::now();
    return b;
  }
  std::vector<std::uint16_t> frames;
};

DashboardOptions options(int port) {
  DashboardOptions o;
  o.listen = "127.0.0.1:" + std::to_string(port);
  o.update_interval = milliseconds(20);
  return o;
}

}  // namespace

// Spec: over HTTP, a new client gets a snapshot and then consecutive deltas; reconnecting with the
// browser's Last-Event-ID gets the next delta (no snapshot) and ends with the full maps; the page
// and its assets are served from the binary.
TEST(DashboardSink, ResumesAReconnectingClientOverHttp) {
  const int port = test::free_port();
  DashboardSink sink(options(port));
  EXPECT_EQ(sink.port(), port);
  const auto page = test::http_get(port, "/");
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<script src=\"app.js\">"), std::string::npos);
  EXPECT_EQ(test::http_get(port, "/app.js")->status, 200);
  EXPECT_EQ(test::http_get(port, "/nothing-here")->status, 404);

  Feeder f(1);
  sink.series_started(f.store, {});
  Browser b;
  std::string last_id;
  {
    test::SseClient c(port, "/events");
    ASSERT_EQ(c.status(), 200);
    const auto health = test::http_get(port, "/api/health");
    ASSERT_TRUE(health.has_value());
    EXPECT_EQ(Json::parse(health->body)["clients"], 1);
    auto e = c.next(milliseconds(5000));
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->type, "snapshot");
    b.apply(*e);
    for (std::uint32_t first = 0; first < 128; first += 16) {
      auto batch = f.batch(first, 16);
      f.store.consume(batch);
      sink.batch_done(batch, f.store);
    }
    // Read until the first 128 positions arrived.
    while (std::isnan(b.maps.empty() ? NAN : b.maps[0][127])) {
      auto d = c.next(milliseconds(5000));
      ASSERT_TRUE(d.has_value()) << "no delta in 5 s";
      b.apply(*d);
      last_id = d->id;
    }
  }  // the browser goes away
  for (std::uint32_t first = 128; first < 256; first += 16) {
    auto batch = f.batch(first, 16);
    f.store.consume(batch);
    sink.batch_done(batch, f.store);
  }
  std::this_thread::sleep_for(milliseconds(100));
  ASSERT_FALSE(last_id.empty());
  const auto snapshots = b.snapshots;
  test::SseClient c(port, "/events", "Last-Event-ID: " + last_id + "\r\n");
  ASSERT_EQ(c.status(), 200);
  auto first = c.next(milliseconds(5000));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->type, "delta");
  const auto id = parse_event_id(first->id);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->seq, parse_event_id(last_id)->seq + 1);  // the sequence continues
  b.apply(*first);
  while (std::isnan(b.maps[0][255])) {
    auto d = c.next(milliseconds(5000));
    ASSERT_TRUE(d.has_value());
    b.apply(*d);
  }
  EXPECT_EQ(b.snapshots, snapshots);
  EXPECT_EQ(b.gaps, 0u);
  for (std::uint32_t p = 0; p < 256; ++p) ASSERT_EQ(b.maps[1][p], truth(1, p)) << p;
}

// Edge case: a client whose last delta has left the ring, or that comes from another engine run,
// gets a snapshot; ?max_events ends the stream after that many events.
TEST(DashboardSink, TooFarBehindGetsASnapshot) {
  const int port = test::free_port();
  auto o = options(port);
  o.limits.ring_events = 2;
  DashboardSink sink(o);
  Feeder f(1);
  sink.series_started(f.store, {});
  for (std::uint32_t first = 0; first < 256; first += 16) {
    auto batch = f.batch(first, 16);
    f.store.consume(batch);
    sink.batch_done(batch, f.store);
    std::this_thread::sleep_for(milliseconds(40));  // one tick each: many deltas
  }
  ASSERT_GT(sink.last_seq(), 4u);
  test::SseClient old(port, "/events?max_events=1", "Last-Event-ID: " + sink.epoch() + "-1\r\n");
  auto e = old.next(milliseconds(5000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->type, "snapshot");
  Browser b;
  b.apply(*e);
  for (std::uint32_t p = 0; p < 256; ++p) ASSERT_EQ(b.maps[2][p], truth(2, p)) << p;
  EXPECT_FALSE(old.next(milliseconds(2000)).has_value());  // max_events = 1: closed
  EXPECT_TRUE(old.closed());

  test::SseClient other(port, "/events", "Last-Event-ID: another-run-3\r\n");
  auto s = other.next(milliseconds(5000));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->type, "snapshot");
}

// Spec: the running mean pattern is built from frames sampled off the batches; at series end the
// snapshot says the series ended and holds the exact final maps.
TEST(DashboardSink, SamplesFramesForTheMeanPattern) {
  const int port = test::free_port();
  DashboardSink sink(options(port));
  Feeder f(37);
  sink.series_started(f.store, {});
  for (std::uint32_t first = 0; first < 256; first += 16) {
    auto batch = f.batch(first, 16);
    f.store.consume(batch);
    sink.batch_done(batch, f.store);
    std::this_thread::sleep_for(milliseconds(30));
  }
  Provenance prov;
  ASSERT_TRUE(sink.series_ended(f.store, prov).has_value());
  std::this_thread::sleep_for(milliseconds(200));
  const auto snap = test::http_get(port, "/api/snapshot");
  ASSERT_TRUE(snap.has_value());
  const Json j = Json::parse(snap->body);
  EXPECT_EQ(j["status"]["state"], "ended");
  EXPECT_EQ(j["status"]["covered"], 256);
  ASSERT_FALSE(j["pattern"].is_null());
  EXPECT_EQ(j["pattern"]["source"], "running_mean");
  EXPECT_GE(j["pattern"]["frames"].get<int>(), 1);
  const auto pattern = decode<float>(j["pattern"]["data"]);
  ASSERT_EQ(pattern.size(), 16u);  // 4x4 frames
  for (float v : pattern) EXPECT_EQ(v, 37.f);
  const auto bf = decode<float>(j["maps"][0]["data"]);
  for (std::uint32_t p = 0; p < 256; ++p) ASSERT_EQ(bf[p], truth(0, p));
}

// Edge case: the engine refuses a listen address it cannot bind, at start-up.
TEST(DashboardSink, UnbindableAddressIsAConfigError) {
  const int port = test::free_port();
  DashboardSink first(options(port));
  EXPECT_THROW(DashboardSink second(options(port)), ConfigError);
}
