// SPDX-License-Identifier: GPL-3.0-or-later
// The native receiver against good and bad senders: every frame received is either in a batch or
// counted as dropped with its reason, and the series ends the documented way.
#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <stdexcept>
#include <thread>

#include "ingest/native/native_source.hpp"
#include "ingest/native/wire.hpp"
#include "sim/native_sender.hpp"
#include "stemflow_wire_generated.h"

using namespace stemflow;
using ingest::SourceStatus;

namespace {

constexpr std::uint32_t kQ = 16;

SeriesHeader header(std::uint64_t id, std::uint32_t rows = 4, std::uint32_t cols = 5) {
  SeriesHeader h;
  h.series_id = id;
  h.scan_rows = rows;
  h.scan_cols = cols;
  h.frame_rows = h.frame_cols = kQ;
  h.dtype = Dtype::kU16;
  h.detector = "test";
  h.metadata["k"] = "v";
  return h;
}

std::vector<std::byte> pixels_of(std::uint64_t index) {
  std::vector<std::uint16_t> px(kQ * kQ);
  std::iota(px.begin(), px.end(), static_cast<std::uint16_t>(index * 7));
  std::vector<std::byte> out(px.size() * 2);
  std::memcpy(out.data(), px.data(), out.size());
  return out;
}

std::vector<std::uint8_t> bytes_of(const std::vector<std::byte>& v) {
  std::vector<std::uint8_t> out(v.size());
  std::memcpy(out.data(), v.data(), v.size());
  return out;
}

std::vector<std::uint8_t> frame_header(std::uint64_t series,
                                       std::uint64_t index,
                                       Dtype d = Dtype::kU16,
                                       std::uint64_t bytes = kQ * kQ * 2) {
  std::vector<std::uint8_t> out;
  ingest::wire::encode_frame({series, index, d, bytes}, out);
  return out;
}

//! A receiver wired to a sender on a loopback port; drains events into a log.
struct Harness {
  BatchPool pool{1 << 20};
  sim::NativeSender sender{{"tcp://127.0.0.1:*", true, 1000, std::chrono::milliseconds(1000)}};
  std::unique_ptr<ingest::NativeZmqSource> source;
  std::vector<SeriesCounts> ended;
  std::vector<SeriesHeader> started;
  std::map<std::uint64_t, std::vector<std::byte>> frames;  // index -> pixels received

  explicit Harness(std::chrono::milliseconds series_timeout = std::chrono::milliseconds(5000)) {
    ingest::NativeOptions o;
    o.endpoints = {sender.endpoint()};
    o.series_timeout = series_timeout;
    o.batch_timeout = std::chrono::milliseconds(20);
    source = std::make_unique<ingest::NativeZmqSource>(pool, o);
  }

  //! Handles events until `n_ended` series have ended or `deadline` passes.
  void run_until_ended(std::size_t n_ended,
                       std::chrono::milliseconds deadline = std::chrono::milliseconds(5000)) {
    const auto t_end = std::chrono::steady_clock::now() + deadline;
    while (ended.size() < n_ended && std::chrono::steady_clock::now() < t_end) {
      step();
    }
  }
  SourceStatus step() {
    const auto s = source->next();
    switch (s) {
      case SourceStatus::kSeriesStarted:
        started.push_back(source->header());
        pool.configure(started.back(), 4, {});
        break;
      case SourceStatus::kBatchReady: {
        FrameBatch* b = source->take_batch();
        for (std::uint32_t i = 0; i < b->count; ++i) {
          frames[b->index[i]].assign(b->frame_data(i), b->frame_data(i) + b->frame_bytes);
        }
        pool.release(b);
        break;
      }
      case SourceStatus::kSeriesEnded:
        ended.push_back(source->counts());
        break;
      default:
        break;
    }
    return s;
  }
};

std::uint64_t dropped(const SeriesCounts& c, DropReason r) {
  return c.dropped[static_cast<std::size_t>(r)];
}

}  // namespace

// Spec: a complete series in shuffled order arrives whole, with its header and exact pixels.
TEST(NativeSource, CompleteSeriesInAnyOrder) {
  Harness t;
  const auto h = header(7);
  t.sender.start(h);
  std::vector<std::uint64_t> order(h.scan_size());
  std::iota(order.begin(), order.end(), 0);
  std::reverse(order.begin(), order.end());
  std::vector<std::vector<std::byte>> px;
  for (auto i : order) {
    px.push_back(pixels_of(i));
    t.sender.frame(i, px.back());
  }
  t.sender.end();
  t.run_until_ended(1);
  ASSERT_EQ(t.ended.size(), 1u);
  ASSERT_EQ(t.started.size(), 1u);
  EXPECT_EQ(t.started[0].series_id, 7u);
  EXPECT_EQ(t.started[0].metadata.at("k"), "v");
  const auto& c = t.ended[0];
  EXPECT_EQ(c.end, SeriesEnd::kComplete);
  EXPECT_EQ(c.frames_received, h.scan_size());
  EXPECT_EQ(c.frames_accepted, h.scan_size());
  EXPECT_EQ(c.frames_announced, h.scan_size());
  EXPECT_EQ(c.dropped_total(), 0u);
  ASSERT_EQ(t.frames.size(), h.scan_size());
  for (std::uint64_t i = 0; i < h.scan_size(); ++i) EXPECT_EQ(t.frames[i], pixels_of(i)) << i;
}

// Spec: each kind of bad frame is counted under its own reason; every good frame is kept.
TEST(NativeSource, BadFramesAreCountedByReason) {
  Harness t;
  const auto h = header(3);
  const auto good = bytes_of(pixels_of(0));
  t.sender.send_parts({frame_header(3, 0), good});  // before any start: orphan no_series
  t.sender.start(h);
  t.sender.send_parts({frame_header(3, 0), good});                   // good
  t.sender.send_parts({frame_header(3, 0), good});                   // duplicate
  t.sender.send_parts({frame_header(9, 1), good});                   // wrong series
  t.sender.send_parts({frame_header(3, 2, Dtype::kU32), good});      // wrong dtype
  t.sender.send_parts({frame_header(3, 3, Dtype::kU16, 12), good});  // header announces wrong size
  t.sender.send_parts({frame_header(3, 4), std::vector<std::uint8_t>(100)});  // short payload
  t.sender.send_parts({frame_header(3, 99), good});                           // index out of range
  t.sender.send_parts({frame_header(3, 5)});                                  // no pixel part
  t.sender.send_parts({frame_header(3, 6), good, good});                      // three parts
  t.sender.send_parts({{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}});                     // garbage
  t.sender.send_parts({frame_header(3, 7), good});                            // good
  t.sender.end();
  t.run_until_ended(1);
  ASSERT_EQ(t.ended.size(), 1u);
  const auto& c = t.ended[0];
  EXPECT_EQ(c.frames_accepted, 2u);
  EXPECT_EQ(dropped(c, DropReason::kDuplicate), 1u);
  EXPECT_EQ(dropped(c, DropReason::kWrongSeries), 1u);
  EXPECT_EQ(dropped(c, DropReason::kWrongDtype), 1u);
  EXPECT_EQ(dropped(c, DropReason::kWrongSize), 2u);
  EXPECT_EQ(dropped(c, DropReason::kIndexOutOfRange), 1u);
  EXPECT_EQ(dropped(c, DropReason::kMalformed), 3u);
  EXPECT_EQ(c.frames_received, c.frames_accepted + c.dropped_total());
  EXPECT_EQ(dropped(t.source->outside_counts(), DropReason::kNoSeries), 1u);
  EXPECT_EQ(t.frames.size(), 2u);
  EXPECT_TRUE(t.frames.count(0) && t.frames.count(7));
  EXPECT_EQ(t.frames[0], pixels_of(0));
}

// Edge case: a message of a newer protocol version is counted as unknown, not misread.
TEST(NativeSource, UnknownProtocolVersionIsCounted) {
  Harness t;
  t.sender.start(header(1));
  flatbuffers::FlatBufferBuilder b;
  auto fr = stemflow::wire::CreateFrame(b, 1, 0, stemflow::wire::PixelType::U16, kQ * kQ * 2);
  stemflow::wire::FinishMessageBuffer(
      b, stemflow::wire::CreateMessage(b, 2, stemflow::wire::Body::Frame, fr.Union()));
  std::vector<std::uint8_t> msg(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  t.sender.send_parts({msg, bytes_of(pixels_of(0))});
  t.sender.end();
  t.run_until_ended(1);
  ASSERT_EQ(t.ended.size(), 1u);
  EXPECT_EQ(dropped(t.ended[0], DropReason::kUnknownMessage), 1u);
  EXPECT_EQ(t.ended[0].frames_accepted, 0u);
}

// Edge case (fuzzing, tests/fuzz/fuzz_wire): a message whose union type is set but whose body table
// is absent passes FlatBuffers verification; decode must call it malformed, not read a null table.
TEST(NativeWire, BodyTypeWithoutBodyIsMalformed) {
  for (auto type : {stemflow::wire::Body::SeriesStart,
                    stemflow::wire::Body::Frame,
                    stemflow::wire::Body::SeriesEnd}) {
    SCOPED_TRACE(int(type));
    flatbuffers::FlatBufferBuilder b;
    stemflow::wire::FinishMessageBuffer(
        b, stemflow::wire::CreateMessage(b, ingest::wire::kProtocolVersion, type, 0));
    const std::vector<std::uint8_t> msg(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
    const auto m = ingest::wire::decode(msg);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code, "malformed");
  }
}

// Spec: a series that restarts ends the first one (restarted) and starts the second.
// Edge case: a parser that throws (a bug, or a library call that throws on input it dislikes) is
// a malformed message at the receiver's boundary, never an exception that stops the acquisition;
// what a parser returns passes through unchanged.
TEST(ParseGuarded, AThrowingParserIsAMalformedMessage) {
  const auto thrown =
      ingest::parse_guarded([]() -> Expected<int> { throw std::out_of_range("boom"); });
  ASSERT_FALSE(thrown);
  EXPECT_EQ(thrown.error().code, "malformed");
  EXPECT_NE(thrown.error().message.find("boom"), std::string::npos) << thrown.error().message;
  const auto failed =
      ingest::parse_guarded([]() -> Expected<int> { return make_error("wrong_size", "x"); });
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, "wrong_size");
  EXPECT_EQ(*ingest::parse_guarded([]() -> Expected<int> { return 3; }), 3);
}

TEST(NativeSource, RestartEndsTheCurrentSeries) {
  Harness t;
  t.sender.start(header(1));
  for (std::uint64_t i = 0; i < 3; ++i) t.sender.frame(i, pixels_of(i));
  t.sender.start(header(2));
  for (std::uint64_t i = 0; i < 20; ++i) t.sender.frame(i, pixels_of(i + 100));
  t.sender.end();
  t.run_until_ended(2);
  ASSERT_EQ(t.ended.size(), 2u);
  ASSERT_EQ(t.started.size(), 2u);
  EXPECT_EQ(t.ended[0].end, SeriesEnd::kRestarted);
  EXPECT_EQ(t.ended[0].frames_accepted, 3u);
  EXPECT_EQ(t.ended[1].end, SeriesEnd::kComplete);
  EXPECT_EQ(t.ended[1].frames_accepted, 20u);
  EXPECT_EQ(t.frames[0], pixels_of(100));  // the second series' frame replaced the first's
}

// Spec: a start that announces the series in progress again (same id, scan and frames: a sender
// that reconnected) does not end it; the frames after it are counted in the same series.
TEST(NativeSource, TheSameSeriesAnnouncedAgainGoesOn) {
  Harness t;
  t.sender.start(header(1));
  for (std::uint64_t i = 0; i < 5; ++i) t.sender.frame(i, pixels_of(i));
  t.sender.start(header(1), 5);
  for (std::uint64_t i = 5; i < 20; ++i) t.sender.frame(i, pixels_of(i));
  t.sender.end();
  t.run_until_ended(1);
  ASSERT_EQ(t.ended.size(), 1u);
  ASSERT_EQ(t.started.size(), 1u);
  EXPECT_EQ(t.ended[0].end, SeriesEnd::kComplete);
  EXPECT_EQ(t.ended[0].frames_accepted, 20u);
  EXPECT_EQ(t.ended[0].frames_announced, 20u);
  EXPECT_EQ(t.ended[0].dropped_total(), 0u);
}

// Spec: a sender that goes silent mid-scan ends the series after series_timeout, keeping its
// frames.
TEST(NativeSource, SilentSenderTimesOut) {
  Harness t(std::chrono::milliseconds(300));
  t.sender.start(header(5));
  for (std::uint64_t i = 0; i < 6; ++i) t.sender.frame(i, pixels_of(i));
  const auto t0 = std::chrono::steady_clock::now();
  t.run_until_ended(1, std::chrono::milliseconds(3000));
  ASSERT_EQ(t.ended.size(), 1u);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(250));
  EXPECT_EQ(t.ended[0].end, SeriesEnd::kTimeout);
  EXPECT_EQ(t.ended[0].frames_accepted, 6u);
  EXPECT_EQ(t.frames.size(), 6u);  // the partial batch was flushed, not lost
}

// Spec: an end after fewer frames than the scan is a complete (short) series: the missing frames
// are simply absent, and the announced count is kept for the books.
TEST(NativeSource, EarlyEndKeepsWhatArrived) {
  Harness t;
  t.sender.start(header(8));
  for (std::uint64_t i = 0; i < 5; ++i) t.sender.frame(i, pixels_of(i));
  t.sender.end();
  t.run_until_ended(1);
  ASSERT_EQ(t.ended.size(), 1u);
  EXPECT_EQ(t.ended[0].end, SeriesEnd::kComplete);
  EXPECT_EQ(t.ended[0].frames_announced, 5u);
  EXPECT_EQ(t.frames.size(), 5u);
}

// Spec: a stop request drains what was already received, ends the series as interrupted, finishes.
TEST(NativeSource, StopDrainsThenFinishes) {
  Harness t;
  t.sender.start(header(4));
  for (std::uint64_t i = 0; i < 9; ++i) t.sender.frame(i, pixels_of(i));
  // Let the messages reach the receiver's queue before asking it to stop.
  while (t.started.empty()) t.step();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  t.source->request_stop();
  SourceStatus s{};
  for (int n = 0; n < 100 && s != SourceStatus::kFinished; ++n) s = t.step();
  EXPECT_EQ(s, SourceStatus::kFinished);
  ASSERT_EQ(t.ended.size(), 1u);
  EXPECT_EQ(t.ended[0].end, SeriesEnd::kInterrupted);
  EXPECT_EQ(t.ended[0].frames_accepted, 9u);
  EXPECT_EQ(t.frames.size(), 9u);
}

// Spec: with every slot taken the receiver waits (back-pressure) and resumes when a slot returns.
TEST(NativeSource, WaitsForAFreeSlot) {
  Harness t;
  const auto h = header(6);
  t.sender.start(h);
  while (t.started.empty()) t.step();
  t.pool.configure(t.started.back(), 1, {});  // one frame per slot
  std::vector<FrameBatch*> held;
  while (auto* b = t.pool.acquire(std::chrono::milliseconds(0))) held.push_back(b);
  ASSERT_FALSE(held.empty());
  for (std::uint64_t i = 0; i < 3; ++i) t.sender.frame(i, pixels_of(i));
  t.sender.end();
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    for (auto* b : held) t.pool.release(b);
  });
  const auto t0 = std::chrono::steady_clock::now();
  t.run_until_ended(1);
  releaser.join();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(250));
  ASSERT_EQ(t.ended.size(), 1u);
  EXPECT_EQ(t.ended[0].frames_accepted, 3u);
  EXPECT_EQ(t.frames.size(), 3u);
}
