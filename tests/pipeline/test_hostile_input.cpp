// SPDX-License-Identifier: GPL-3.0-or-later
// The engine, in process, against series headers any sender can send: a scan or a frame too large
// for the configured memory is refused with a reason and its frames counted as dropped, for every
// receiving protocol, and the next series is processed as if nothing happened. Also: messages that
// belong to no series are counted by reason, and frames dealt out between two receivers are named
// as such.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <future>
#include <span>
#include <thread>
#include <zmq.hpp>

#include "config/config.hpp"
#include "ingest/series_assembler.hpp"
#include "pipeline/engine.hpp"
#include "pipeline/plan.hpp"
#include "sim/protocol_sender.hpp"
#include "sim/send_loop.hpp"
#include "tests/support/process.hpp"

using namespace stemflow;
using std::chrono::milliseconds;

namespace {

constexpr std::uint32_t kFrame = 16;  // the valid series' frames: 16x16 u16

std::string engine_config(const std::string& protocol, const std::string& endpoint) {
  return "[input]\nprotocol = \"" + protocol + "\"\nendpoint = \"" + endpoint +
         "\"\nseries_timeout = 3.0\n"
         "[pipeline]\nbatch_frames = 4\nmemory_limit = \"16MiB\"\nthreads = 2\n"
         "[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\ndetector = \"circle\"\n"
         "center = [8.0, 8.0]\nradius = 4.0\n"
         "[[operators]]\ntype = \"center_of_mass\"\nname = \"com\"\n";
}

SeriesHeader valid_header(std::uint64_t id) {
  SeriesHeader h;
  h.series_id = id;
  h.scan_rows = 4;
  h.scan_cols = 6;
  h.frame_rows = kFrame;
  h.frame_cols = kFrame;
  h.dtype = Dtype::kU16;
  h.detector = "test";
  return h;
}

void render(std::uint64_t i, std::span<std::byte> out) {
  auto* p = reinterpret_cast<std::uint16_t*>(out.data());
  for (std::size_t k = 0; k < out.size() / 2; ++k) p[k] = static_cast<std::uint16_t>((i + k) % 97);
}

struct Outcome {
  std::vector<SeriesReport> reports;
  SeriesCounts outside;
  int rc = -1;
};

//! Runs an engine for two series while `send` talks to it from another thread; the engine must
//! be done within a minute (a hang fails the test instead of blocking the suite).
template <class Send>
Outcome run_two_series(const std::string& protocol, Send&& send) {
  const std::string ep = "tcp://127.0.0.1:" + std::to_string(test::free_port());
  sim::ProtocolOptions so;
  so.protocol = protocol;
  so.endpoints = {ep};
  so.codec = ingest::codecs::Codec::kBslz4;
  so.linger = milliseconds(5000);
  so.accept_timeout = milliseconds(20000);
  auto sender = sim::make_protocol_sender(so);
  const auto config = config::Config::parse(engine_config(protocol, ep), "hostile.toml");
  Engine engine(make_plan(config, PlanFor::kRun));
  auto done = std::async(std::launch::async, [&] { return engine.run(2); });
  std::thread t([&] {
    std::this_thread::sleep_for(milliseconds(300));  // the engine's PULL socket connects
    send(*sender);
  });
  Outcome o;
  if (done.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    ADD_FAILURE() << "the engine did not finish two series within 60 s";
    engine.stop();
  }
  o.rc = done.get();
  t.join();
  o.reports = engine.reports();
  o.outside = engine.outside_counts();
  return o;
}

//! A hostile series start with three frames of the valid series' size, its end, then a valid
//! series.
void hostile_then_valid(sim::ProtocolSender& s, const SeriesHeader& hostile) {
  s.start(hostile);
  std::vector<std::byte> px(std::size_t{kFrame} * kFrame * 2);
  std::vector<std::uint8_t> enc;
  for (std::uint64_t i = 0; i < 3; ++i) {
    render(i, px);
    // Encoded as the valid frames are: the hostile shape is never allocated on either side.
    s.prepare(valid_header(1));
    s.encode(px, enc);
    s.prepare(hostile);
    s.send_encoded(i, enc);
  }
  s.end();
  sim::SendParams p;
  p.header = valid_header(2);
  p.render = render;
  (void)sim::send_series(s, p);
}

struct Case {
  const char* protocol;
  const char* what;
  std::uint32_t scan_rows, scan_cols, frame_rows, frame_cols;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.protocol << ", " << c.what; }

class HostileHeader : public ::testing::TestWithParam<Case> {};

TEST_P(HostileHeader, IsRefusedCountedAndTheNextSeriesRuns) {
  const Case c = GetParam();
  SeriesHeader h = valid_header(1);
  h.scan_rows = c.scan_rows;
  h.scan_cols = c.scan_cols;
  h.frame_rows = c.frame_rows;
  h.frame_cols = c.frame_cols;
  const auto t0 = std::chrono::steady_clock::now();
  const auto o =
      run_two_series(c.protocol, [&](sim::ProtocolSender& s) { hostile_then_valid(s, h); });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(o.rc, 0);
  ASSERT_EQ(o.reports.size(), 2u) << c.what;
  const auto& bad = o.reports[0];
  EXPECT_EQ(bad.frames_processed, 0u);
  EXPECT_EQ(bad.counts.frames_accepted, 0u);
  // Every frame of the refused series is received and dropped, none lost without a reason.
  EXPECT_EQ(bad.counts.frames_received, 3u) << c.what;
  EXPECT_EQ(bad.counts.dropped_total(), 3u) << c.what;
  const auto& good = o.reports[1];
  EXPECT_EQ(good.header.scan_size(), 24u);
  EXPECT_EQ(good.frames_processed, 24u) << c.what;
  EXPECT_EQ(good.counts.dropped_total(), 0u);
  EXPECT_LT(seconds, 20.0) << "refusing a header must not take long";
}

// Frames of 2^20 x 2^20 pixels, and scans of 200000^2 and 20000^2 positions (the latter used to
// freeze the engine for > 10 s while it sized results for 4e8 positions).
INSTANTIATE_TEST_SUITE_P(
    EveryProtocol,
    HostileHeader,
    ::testing::Values(Case{"native", "scan 200000^2", 200000, 200000, kFrame, kFrame},
                      Case{"native", "scan 20000^2", 20000, 20000, kFrame, kFrame},
                      Case{"native", "frame 2^20^2", 4, 6, 1u << 20, 1u << 20},
                      Case{"dectris-stream2", "scan 200000^2", 200000, 200000, kFrame, kFrame},
                      Case{"dectris-stream2", "frame 2^20^2", 4, 6, 1u << 20, 1u << 20},
                      Case{"dectris-stream1", "scan 200000^2", 200000, 200000, kFrame, kFrame},
                      Case{"dectris-stream1", "frame 2^20^2", 4, 6, 1u << 20, 1u << 20},
                      Case{"merlin", "scan 20000^2", 20000, 20000, kFrame, kFrame}),
    [](const auto& info) {
      std::string n = std::string(info.param.protocol) + "_" + info.param.what;
      for (auto& ch : n) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return n;
    });

TEST(OutsideSeries, GarbageAndStrayEndsAreCountedByReason) {
  // 452 messages no receiver understands, before any series: each is counted as malformed.
  const std::string ep = "tcp://127.0.0.1:" + std::to_string(test::free_port());
  zmq::context_t ctx(1);
  zmq::socket_t push(ctx, zmq::socket_type::push);
  push.set(zmq::sockopt::linger, 5000);
  push.bind(ep);
  const auto config = config::Config::parse(engine_config("native", ep), "outside.toml");
  Engine engine(make_plan(config, PlanFor::kRun));
  auto done = std::async(std::launch::async, [&] { return engine.run(1); });
  std::this_thread::sleep_for(milliseconds(300));
  for (int i = 0; i < 452; ++i) {
    const std::string junk = "garbage " + std::to_string(i);
    push.send(zmq::buffer(junk), zmq::send_flags::none);
  }
  // Then a valid series, so that the run ends.
  std::this_thread::sleep_for(milliseconds(200));
  push.close();
  sim::ProtocolOptions so;
  so.endpoints = {ep};
  so.linger = milliseconds(5000);
  std::this_thread::sleep_for(milliseconds(200));
  auto sender = sim::make_protocol_sender(so);
  std::this_thread::sleep_for(milliseconds(300));
  sim::SendParams p;
  p.header = valid_header(5);
  p.render = render;
  (void)sim::send_series(*sender, p);
  ASSERT_EQ(done.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  EXPECT_EQ(done.get(), 0);
  EXPECT_EQ(engine.outside_counts().dropped[std::size_t(DropReason::kMalformed)], 452u);
  ASSERT_EQ(engine.reports().size(), 1u);
  EXPECT_EQ(engine.reports()[0].frames_processed, 24u);
}

TEST(Interleaving, DealtOutFramesAreRecognisedAndLossIsNot) {
  std::vector<std::uint8_t> seen(1000, 0);
  for (std::size_t i = 1; i < seen.size(); i += 2) seen[i] = 1;  // every other frame
  EXPECT_TRUE(ingest::looks_interleaved(seen));
  std::fill(seen.begin(), seen.end(), 0);
  for (std::size_t i = 0; i < seen.size(); i += 3) seen[i] = 1;  // three receivers
  EXPECT_TRUE(ingest::looks_interleaved(seen));
  // A complete scan, a scan that lost its second half, scattered loss of 10 %, and loss of half
  // the frames in runs: none is a second receiver.
  std::fill(seen.begin(), seen.end(), 1);
  EXPECT_FALSE(ingest::looks_interleaved(seen));
  std::fill(seen.begin() + 500, seen.end(), 0);
  EXPECT_FALSE(ingest::looks_interleaved(seen));
  std::fill(seen.begin(), seen.end(), 1);
  for (std::size_t i = 0; i < seen.size(); i += 10) seen[i] = 0;
  EXPECT_FALSE(ingest::looks_interleaved(seen));
  for (std::size_t i = 0; i < seen.size(); ++i) seen[i] = (i / 20) % 2;
  EXPECT_FALSE(ingest::looks_interleaved(seen));
}

}  // namespace
