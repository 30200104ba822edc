// SPDX-License-Identifier: GPL-3.0-or-later
// The DECTRIS stream V2/V1 and Merlin receivers against stemflow-sim's senders over loopback, in
// process: every codec and dtype reproduces the frames bit for bit; channel selection, several
// endpoints, and bad input (corrupt blocks, truncated CBOR, image ids outside the series, a series
// that restarts, a detector that disconnects) are counted with their reason while every valid frame
// is kept. Stream V1 image hashes: the sender's is the blob's md5, and a receiver that verifies
// them drops blobs damaged after hashing.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <thread>
#include <zmq.hpp>

#include "ingest/codecs/md5.hpp"
#include "ingest/dectris/dectris_stream_source.hpp"
#include "ingest/dectris/stream1.hpp"
#include "ingest/dectris/stream2.hpp"
#include "ingest/merlin/merlin_source.hpp"
#include "ingest/native/native_source.hpp"
#include "sim/protocol_sender.hpp"
#include "sim/send_loop.hpp"
#include "sim/synth.hpp"
#include "source_harness.hpp"
#include "tests/support/process.hpp"

using namespace stemflow;
using ingest::codecs::Codec;
using std::chrono::milliseconds;

namespace {

struct Scan {
  SeriesHeader header;
  std::vector<std::byte> px;
  const std::byte* frame(std::uint64_t i) const { return px.data() + i * header.frame_bytes(); }
};

// A small synthetic scan with non-square frames by default, so that a transposed frame cannot pass.
Scan make_scan(Dtype dtype,
               std::uint32_t rows = 4,
               std::uint32_t cols = 5,
               std::uint64_t seed = 3,
               std::uint32_t frame_rows = 40,
               std::uint32_t frame_cols = 56) {
  sim::SynthParams p;
  p.scan_rows = rows;
  p.scan_cols = cols;
  p.frame_rows = frame_rows;
  p.frame_cols = frame_cols;
  p.dtype = dtype;
  p.seed = seed;
  const sim::SynthScan synth(p);
  Scan s;
  s.header.series_id = 7;
  s.header.scan_rows = rows;
  s.header.scan_cols = cols;
  s.header.frame_rows = p.frame_rows;
  s.header.frame_cols = p.frame_cols;
  s.header.dtype = dtype;
  s.header.detector = "test";
  s.px.resize(s.header.scan_size() * s.header.frame_bytes());
  for (std::uint64_t i = 0; i < s.header.scan_size(); ++i) {
    synth.render(i, {s.px.data() + i * s.header.frame_bytes(), s.header.frame_bytes()});
  }
  return s;
}

std::string endpoint(int port) { return "tcp://127.0.0.1:" + std::to_string(port); }

std::unique_ptr<ingest::Source> make_receiver(BatchPool& pool,
                                              const std::string& protocol,
                                              std::vector<std::string> endpoints,
                                              const std::string& channel = {},
                                              milliseconds series_timeout = milliseconds(3000)) {
  if (protocol == "native") {
    ingest::NativeOptions o;
    o.endpoints = std::move(endpoints);
    o.series_timeout = test::scaled(series_timeout);
    return std::make_unique<ingest::NativeZmqSource>(pool, o);
  }
  if (protocol == "merlin") {
    ingest::MerlinOptions o;
    o.endpoint = endpoints.at(0);
    o.series_timeout = test::scaled(series_timeout);
    o.reconnect_interval = milliseconds(50);
    return std::make_unique<ingest::MerlinSource>(pool, o);
  }
  ingest::DectrisStreamOptions o;
  o.version = protocol == "dectris-stream1" ? 1 : 2;
  o.endpoints = std::move(endpoints);
  o.series_timeout = test::scaled(series_timeout);
  o.channel = channel;
  o.read_ahead = 8;
  return std::make_unique<ingest::DectrisStreamSource>(pool, o);
}

// Sends `scan` (with `faults`) from a thread while the receiver drains it here.
struct Run {
  std::vector<test::ReceivedSeries> got;
  std::vector<sim::SendLog> logs;
};

// `adjust` changes the sender's options and the send parameters before the run.
using Adjust = std::function<void(sim::ProtocolOptions&, sim::SendParams&)>;

Run run(const std::string& protocol,
        const Scan& scan,
        Codec codec,
        const sim::FaultPlan& faults = {},
        std::vector<std::string> channels = {"threshold_1"},
        const std::string& take_channel = {},
        int endpoints = 1,
        std::uint64_t loops = 1,
        const Adjust& adjust = {}) {
  std::vector<std::string> eps;
  for (int e = 0; e < endpoints; ++e) eps.push_back(endpoint(test::free_port()));
  sim::ProtocolOptions so;
  so.protocol = protocol;
  so.endpoints = eps;
  so.codec = codec;
  so.channels = channels;
  so.linger = milliseconds(5000);
  sim::SendParams p;
  p.header = scan.header;
  p.render = [&](std::uint64_t i, std::span<std::byte> out) {
    std::memcpy(out.data(), scan.frame(i), out.size());
  };
  p.faults = faults;
  p.loops = loops;
  if (adjust) adjust(so, p);
  auto sender = sim::make_protocol_sender(so);
  BatchPool pool(8 << 20);
  auto src = make_receiver(
      pool, protocol, eps, take_channel, milliseconds(faults.any() || loops > 1 ? 1500 : 10000));
  Run r;
  std::thread t([&] {
    // A DECTRIS receiver connects: give it a moment so that the start message is not sent into
    // the void (ZeroMQ queues for connected peers only).
    std::this_thread::sleep_for(milliseconds(200));
    r.logs = sim::send_series(*sender, p);
  });
  r.got = test::drain(*src, pool, loops, std::chrono::seconds(60), 6);
  t.join();
  return r;
}

void expect_frames_equal(const test::ReceivedSeries& r, const Scan& scan, std::uint64_t i) {
  EXPECT_EQ(0, std::memcmp(r.frame(i), scan.frame(i), scan.header.frame_bytes())) << "frame " << i;
}

// What a Merlin receiver decodes from frame i of `scan` sent raw at `depth` bits (the simulator's
// rule, written here without the codec): each value clamped to the depth's maximum, in the
// decoded dtype (u8 for 1 and 6 bit, u16 for 12, u32 for 24), 2x2G gap pixels 0. Adds the values
// clamped to `clamped`.
std::vector<std::uint8_t> raw_expected(
    const Scan& scan, std::uint64_t i, std::uint32_t depth, bool quad_gap, std::uint64_t& clamped) {
  const Dtype out_dt = depth <= 6 ? Dtype::kU8 : depth == 12 ? Dtype::kU16 : Dtype::kU32;
  const std::size_t in_es = dtype_size(scan.header.dtype), out_es = dtype_size(out_dt);
  const std::uint32_t max = (1u << depth) - 1;
  const std::uint32_t cols = scan.header.frame_cols;
  std::vector<std::uint8_t> out(scan.header.frame_pixels() * out_es);
  for (std::size_t k = 0; k < scan.header.frame_pixels(); ++k) {
    const std::size_t y = k / cols, x = k % cols;
    if (quad_gap && ((y >= 256 && y < 258) || (x >= 256 && x < 258))) continue;
    std::uint32_t v = 0;
    std::memcpy(&v, scan.frame(i) + k * in_es, in_es);
    if (v > max) {
      v = max;
      ++clamped;
    }
    std::memcpy(out.data() + k * out_es, &v, out_es);
  }
  return out;
}

}  // namespace

// Spec: stream V2 with bslz4, lz4 and uncompressed pixels, in u8, u16 and u32, reproduces every
// frame bit for bit, with the scan shape the sender announced and a complete series.
TEST(DectrisStream2, EveryCodecAndDtypeRoundTrips) {
  for (Dtype dt : {Dtype::kU8, Dtype::kU16, Dtype::kU32}) {
    for (Codec c : {Codec::kBslz4, Codec::kLz4Hdf5, Codec::kNone}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " + std::string(ingest::codecs::codec_name(c)));
      const Scan scan = make_scan(dt);
      const auto r = run("dectris-stream2", scan, c);
      ASSERT_EQ(r.got.size(), 1u);
      const auto& s = r.got[0];
      EXPECT_EQ(s.header.scan_rows, 4u);
      EXPECT_EQ(s.header.scan_cols, 5u);
      EXPECT_EQ(s.header.frame_rows, 40u);
      EXPECT_EQ(s.header.frame_cols, 56u);
      EXPECT_EQ(s.counts.end, SeriesEnd::kComplete);
      EXPECT_EQ(s.counts.frames_accepted, 20u);
      EXPECT_EQ(s.counts.dropped_total(), 0u);
      for (std::uint64_t i = 0; i < 20; ++i) expect_frames_equal(s, scan, i);
    }
  }
}

// Spec: stream V1 with bs8/bs16/bs32-lz4<, lz4< and raw pixels reproduces every frame.
TEST(DectrisStream1, EveryEncodingRoundTrips) {
  for (Dtype dt : {Dtype::kU8, Dtype::kU16, Dtype::kU32}) {
    for (Codec c : {Codec::kBslz4, Codec::kLz4Block, Codec::kNone}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " + std::string(ingest::codecs::codec_name(c)));
      const Scan scan = make_scan(dt);
      const auto r = run("dectris-stream1", scan, c);
      ASSERT_EQ(r.got.size(), 1u);
      EXPECT_EQ(r.got[0].counts.end, SeriesEnd::kComplete);
      EXPECT_EQ(r.got[0].counts.frames_accepted, 20u);
      for (std::uint64_t i = 0; i < 20; ++i) expect_frames_equal(r.got[0], scan, i);
    }
  }
}

// Edge case (fuzzing, tests/fuzz/fuzz_stream1): a JSON field of another type than the protocol's
// (a number for "htype", "type" or "trigger_mode", ...) is a malformed message, not an exception
// out of decode.
TEST(DectrisStream1, FieldsOfTheWrongTypeAreMalformed) {
  const auto decode = [](std::vector<std::string> parts) {
    std::vector<std::span<const std::uint8_t>> spans;
    for (const auto& p : parts) {
      spans.emplace_back(reinterpret_cast<const std::uint8_t*>(p.data()), p.size());
    }
    return ingest::stream1::decode(spans);
  };
  const std::string image1 = R"({"htype":"dimage-1.0","series":1,"frame":0})";
  const std::string blob(8, '\0');
  const std::vector<std::vector<std::string>> cases = {
      {R"({"htype":5})"},
      {R"({"htype":"dheader-1.0","header_detail":1})"},
      {R"({"htype":"dheader-1.0","header_detail":"basic"})",
       R"({"x_pixels_in_detector":2,"y_pixels_in_detector":2,"bit_depth_image":16,)"
       R"("trigger_mode":3})"},
      {R"({"htype":"dheader-1.0","header_detail":"basic"})",
       R"({"x_pixels_in_detector":2,"y_pixels_in_detector":2,"bit_depth_image":16,)"
       R"("description":["a"]})"},
      {image1, R"({"htype":7,"shape":[2,2],"type":"uint16"})", blob},
      {image1, R"({"htype":"dimage_d-1.0","shape":[2,2],"type":16})", blob},
      {image1, R"({"htype":"dimage_d-1.0","shape":[2,2],"type":"uint16","encoding":{}})", blob},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.size() > 1 ? c[1] : c[0]);
    Expected<ingest::stream1::Message> m;
    ASSERT_NO_THROW(m = decode(c));
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code, "malformed");
  }
}

// Spec: Merlin over TCP with 8-, 16- and 32-bit counts reproduces every frame; the series completes
// when every sequence number has arrived.
TEST(Merlin, EveryDepthRoundTrips) {
  for (Dtype dt : {Dtype::kU8, Dtype::kU16, Dtype::kU32}) {
    SCOPED_TRACE(dtype_name(dt));
    const Scan scan = make_scan(dt);
    const auto r = run("merlin", scan, Codec::kNone);
    ASSERT_EQ(r.got.size(), 1u);
    const auto& s = r.got[0];
    EXPECT_EQ(s.header.scan_rows, 4u);
    EXPECT_EQ(s.header.scan_cols, 5u);
    EXPECT_EQ(s.counts.end, SeriesEnd::kComplete);
    EXPECT_EQ(s.counts.frames_accepted, 20u);
    for (std::uint64_t i = 0; i < 20; ++i) expect_frames_equal(s, scan, i);
  }
}

// Spec: Merlin raw (R64) frames from the simulator (--merlin-raw) arrive over TCP as the frames
// sent, clamped to the counter depth and in its dtype: a 2x2 quad at 12 bit bit for bit (nothing to
// clamp), a 2x2G quad at 1 bit and at 6 bit from u16 (values clamped and counted, gap pixels 0),
// one chip at 24 bit from u32, and auto picking 2x2 for 512x512.
TEST(Merlin, RawFramesArriveAsSentClampedToTheDepth) {
  struct Case {
    std::string layout;
    std::uint32_t depth;
    Dtype dtype;
    std::uint32_t rows, cols;
    bool any_clamped;
  };
  for (const Case& c : {Case{"2x2", 12, Dtype::kU16, 512, 512, false},
                        Case{"2x2G", 1, Dtype::kU8, 514, 514, true},
                        Case{"2x2G", 6, Dtype::kU16, 514, 514, true},
                        Case{"1x1", 24, Dtype::kU32, 40, 56, false},
                        Case{"auto", 12, Dtype::kU16, 512, 512, false}}) {
    SCOPED_TRACE(c.layout + " " + std::to_string(c.depth) + "-bit from " +
                 std::string(dtype_name(c.dtype)));
    const Scan scan = make_scan(c.dtype, 3, 4, 5, c.rows, c.cols);
    const auto r = run("merlin",
                       scan,
                       Codec::kNone,
                       {},
                       {"threshold_1"},
                       {},
                       1,
                       1,
                       [&](sim::ProtocolOptions& o, sim::SendParams&) {
                         o.merlin_raw_depth = c.depth;
                         o.merlin_layout = c.layout;
                       });
    ASSERT_EQ(r.got.size(), 1u);
    const auto& s = r.got[0];
    EXPECT_EQ(s.header.frame_rows, c.rows);
    EXPECT_EQ(s.header.frame_cols, c.cols);
    EXPECT_EQ(s.header.dtype,
              c.depth <= 6    ? Dtype::kU8
              : c.depth == 12 ? Dtype::kU16
                              : Dtype::kU32);
    EXPECT_EQ(s.header.metadata.at("pixel_type"), "R64");
    EXPECT_EQ(s.header.metadata.at("counter_depth"), std::to_string(c.depth));
    EXPECT_EQ(s.header.metadata.at("layout"), c.layout == "auto" ? "2x2" : c.layout);
    EXPECT_EQ(s.counts.end, SeriesEnd::kComplete);
    EXPECT_EQ(s.counts.frames_accepted, 12u);
    EXPECT_EQ(s.counts.dropped_total(), 0u);
    std::uint64_t clamped = 0;
    for (std::uint64_t i = 0; i < 12; ++i) {
      const auto want = raw_expected(scan, i, c.depth, c.layout == "2x2G", clamped);
      ASSERT_EQ(want.size(), s.header.frame_bytes());
      EXPECT_EQ(0, std::memcmp(s.frame(i), want.data(), want.size())) << "frame " << i;
    }
    EXPECT_EQ(clamped > 0, c.any_clamped);
    ASSERT_EQ(r.logs.size(), 1u);
    EXPECT_EQ(r.logs[0].clamped, clamped);
  }
}

// Error guessing: frames encoded before the series starts (--unique caches them) follow the
// series' format (before the fix, counts frames were encoded as u16 whatever their dtype), for
// u8 counts and for a raw 2x2 quad; frame i arrives as cached frame i % 5.
TEST(Merlin, FramesEncodedBeforeTheSeriesStartsArrive) {
  for (const std::uint32_t depth : {0u, 12u}) {
    SCOPED_TRACE(depth == 0 ? "u8 counts" : "raw 2x2 12-bit");
    const Scan scan =
        depth == 0 ? make_scan(Dtype::kU8, 3, 4) : make_scan(Dtype::kU16, 3, 4, 3, 512, 512);
    const auto r = run("merlin",
                       scan,
                       Codec::kNone,
                       {},
                       {"threshold_1"},
                       {},
                       1,
                       1,
                       [&](sim::ProtocolOptions& o, sim::SendParams& p) {
                         o.merlin_raw_depth = depth;
                         p.unique = 5;
                       });
    ASSERT_EQ(r.got.size(), 1u);
    const auto& s = r.got[0];
    EXPECT_EQ(s.header.dtype, scan.header.dtype);
    EXPECT_EQ(s.counts.frames_accepted, 12u);
    for (std::uint64_t i = 0; i < 12; ++i) {
      EXPECT_EQ(0, std::memcmp(s.frame(i), scan.frame(i % 5), scan.header.frame_bytes()))
          << "frame " << i;
    }
  }
}

// Error guessing: raw options that cannot be sent are configuration errors before anything is
// sent: a depth Merlin does not have, raw frames on another protocol, a quad layout for frames of
// another shape, one chip of a pixel count that is not a multiple of 64, f32 frames.
TEST(Merlin, RawOptionsThatCannotBeSentAreConfigErrors) {
  sim::ProtocolOptions o;
  o.protocol = "merlin";
  o.endpoints = {endpoint(test::free_port())};
  o.merlin_raw_depth = 8;
  EXPECT_THROW(sim::make_protocol_sender(o), ConfigError);
  o.merlin_raw_depth = 12;
  o.protocol = "dectris-stream2";
  EXPECT_THROW(sim::make_protocol_sender(o), ConfigError);
  o.protocol = "merlin";
  struct Case {
    std::string layout;
    std::uint32_t rows, cols;
    Dtype dtype;
  };
  for (const Case& c : {Case{"2x2", 514, 514, Dtype::kU16},
                        Case{"2x2G", 512, 512, Dtype::kU16},
                        Case{"2x2", 256, 256, Dtype::kU16},
                        Case{"1x1", 10, 10, Dtype::kU16},
                        Case{"auto", 10, 10, Dtype::kU16},
                        Case{"4x1", 512, 512, Dtype::kU16},
                        Case{"2x2", 512, 512, Dtype::kF32}}) {
    SCOPED_TRACE(c.layout + " " + std::to_string(c.rows) + "x" + std::to_string(c.cols));
    o.merlin_layout = c.layout;
    auto sender = sim::make_protocol_sender(o);
    SeriesHeader h;
    h.frame_rows = c.rows;
    h.frame_cols = c.cols;
    h.dtype = c.dtype;
    EXPECT_THROW(sender->prepare(h), ConfigError);
  }
}

// Spec: of two stream V2 channels, the one named in the configuration is taken (the simulator's
// second channel is the frame + 1).
TEST(DectrisStream2, ChannelIsSelectedByName) {
  const Scan scan = make_scan(Dtype::kU16);
  const auto r = run(
      "dectris-stream2", scan, Codec::kBslz4, {}, {"threshold_1", "threshold_2"}, "threshold_2");
  ASSERT_EQ(r.got.size(), 1u);
  const auto& s = r.got[0];
  EXPECT_EQ(s.counts.frames_accepted, 20u);
  for (std::uint64_t i = 0; i < 20; ++i) {
    const auto* want = reinterpret_cast<const std::uint16_t*>(scan.frame(i));
    const auto* got = reinterpret_cast<const std::uint16_t*>(s.frame(i));
    for (std::size_t k = 0; k < scan.header.frame_pixels(); ++k) {
      ASSERT_EQ(got[k], std::uint16_t(want[k] + 1)) << "frame " << i << " pixel " << k;
    }
  }
}

// Spec: three endpoints (one sender socket each, frames spread over them) feed one series, which
// completes with the end message of every endpoint.
TEST(DectrisStream2, SeveralEndpointsFeedOneSeries) {
  for (const std::string protocol : {"dectris-stream2", "dectris-stream1"}) {
    SCOPED_TRACE(protocol);
    const Scan scan = make_scan(Dtype::kU16, 6, 7);
    const auto r = run(protocol, scan, Codec::kBslz4, {}, {"threshold_1"}, {}, 3);
    ASSERT_EQ(r.got.size(), 1u);
    EXPECT_EQ(r.got[0].counts.end, SeriesEnd::kComplete);
    EXPECT_EQ(r.got[0].counts.frames_accepted, 42u);
    for (std::uint64_t i = 0; i < 42; ++i) expect_frames_equal(r.got[0], scan, i);
  }
}

// Spec: each injected fault gives the coverage and counts the fault log predicts, for every
// protocol: dropped and lost frames missing, corrupt ones dropped with their reason, duplicates
// dropped once, reordered and stalled frames intact; after the disconnect the series goes on.
TEST(FaultInjection, CoverageAndCountsMatchTheLog) {
  for (const std::string protocol : {"native", "dectris-stream2", "dectris-stream1", "merlin"}) {
    SCOPED_TRACE(protocol);
    const Scan scan = make_scan(Dtype::kU16, 8, 8, 11);
    auto faults = sim::FaultPlan::parse(
        "drop=0.1,duplicate=0.1,reorder=0.1,corrupt=0.1,stall=300@20,disconnect=33", 5);
    const bool raw = protocol == "merlin" || protocol == "native";
    const auto r = run(protocol, scan, raw ? Codec::kNone : Codec::kBslz4, faults);
    ASSERT_EQ(r.got.size(), 1u);
    ASSERT_EQ(r.logs.size(), 1u);
    const auto& s = r.got[0];
    const auto& log = r.logs[0];
    // The draws must have hit something of each kind, or the test proves nothing.
    ASSERT_FALSE(log.dropped.empty());
    ASSERT_FALSE(log.corrupted.empty());
    ASSERT_FALSE(log.duplicated.empty());
    ASSERT_FALSE(log.reordered.empty());
    std::vector<std::uint8_t> expect(64, 1);
    for (auto i : log.dropped) expect[i] = 0;
    for (auto i : log.corrupted) expect[i] = 0;
    for (auto i : log.lost_in_disconnect) expect[i] = 0;
    EXPECT_EQ(s.coverage, expect);
    const auto missing = log.dropped.size() + log.lost_in_disconnect.size();
    EXPECT_EQ(s.counts.frames_received, 64 - missing + log.duplicated.size());
    EXPECT_EQ(s.counts.frames_accepted, 64 - missing - log.corrupted.size());
    EXPECT_EQ(s.counts.dropped[std::size_t(DropReason::kDuplicate)], log.duplicated.size());
    const auto corrupt_reason = raw ? DropReason::kWrongSize : DropReason::kDecodeError;
    EXPECT_EQ(s.counts.dropped[std::size_t(corrupt_reason)], log.corrupted.size());
    EXPECT_EQ(s.counts.dropped_total(), log.duplicated.size() + log.corrupted.size());
    // DECTRIS sends an end message: complete. Merlin has none: with frames missing, it times out.
    EXPECT_EQ(s.counts.end, protocol == "merlin" ? SeriesEnd::kTimeout : SeriesEnd::kComplete);
    for (std::uint64_t i = 0; i < 64; ++i) {
      if (expect[i]) expect_frames_equal(s, scan, i);
    }
  }
}

// Error guessing: truncated CBOR, an image id outside the series, an image of another series, a
// corrupt block and an unknown message type are each counted with their reason; a second start
// restarts the series; every valid frame is kept.
TEST(DectrisStream2, BadMessagesAreCountedValidFramesKept) {
  const Scan scan = make_scan(Dtype::kU16, 2, 3);
  const std::string ep = endpoint(test::free_port());
  zmq::context_t ctx(1);
  zmq::socket_t push(ctx, zmq::socket_type::push);
  push.set(zmq::sockopt::linger, 5000);
  push.bind(ep);
  BatchPool pool(8 << 20);
  auto src = make_receiver(pool, "dectris-stream2", {ep});
  std::thread t([&] {
    std::this_thread::sleep_for(milliseconds(200));
    std::vector<std::uint8_t> msg, enc;
    const auto send = [&](const std::vector<std::uint8_t>& m) {
      push.send(zmq::buffer(m), zmq::send_flags::none);
    };
    const auto image =
        [&](std::uint64_t series, std::uint64_t id, const std::byte* px, bool corrupt) {
          ingest::codecs::bslz4_compress(
              {reinterpret_cast<const std::uint8_t*>(px), scan.header.frame_bytes()}, 2, enc);
          if (corrupt) enc.resize(enc.size() - 20);
          const ingest::stream2::ChannelData ch{"threshold_1", Codec::kBslz4, enc};
          ingest::stream2::encode_image(series, "u", id, 40, 56, Dtype::kU16, {&ch, 1}, msg);
          return msg;
        };
    ingest::stream2::Start st;
    st.series_id = 1;
    st.series_unique_id = "u";
    st.channels = {"threshold_1"};
    st.image_size_x = 56;
    st.image_size_y = 40;
    st.number_of_images = 6;
    st.scan_shape = std::array<std::uint32_t, 2>{2, 3};
    ingest::stream2::encode_start(st, msg);
    send(msg);
    send(image(1, 0, scan.frame(0), false));
    auto cut = image(1, 1, scan.frame(1), false);
    cut.resize(cut.size() / 2);  // truncated CBOR
    send(cut);
    send(image(1, 2, scan.frame(2), true));    // corrupt bslz4 block
    send(image(1, 99, scan.frame(3), false));  // image id outside the series
    send(image(5, 3, scan.frame(3), false));   // another series
    send(image(1, 4, scan.frame(4), false));
    send({0xD9, 0xD9, 0xF7, 0xA1, 0x64, 't', 'y', 'p', 'e', 0x64, 'n', 'o', 'p', 'e'});  // unknown
                                                                                         // type
    // A restart: series 2 starts before series 1 ended.
    st.series_id = 2;
    st.series_unique_id = "v";
    ingest::stream2::encode_start(st, msg);
    send(msg);
    for (std::uint64_t i = 0; i < 6; ++i) {
      ingest::codecs::bslz4_compress(
          {reinterpret_cast<const std::uint8_t*>(scan.frame(i)), scan.header.frame_bytes()},
          2,
          enc);
      const ingest::stream2::ChannelData ch{"threshold_1", Codec::kBslz4, enc};
      ingest::stream2::encode_image(2, "v", i, 40, 56, Dtype::kU16, {&ch, 1}, msg);
      send(msg);
    }
    ingest::stream2::encode_end({2, "v"}, msg);
    send(msg);
  });
  const auto got = test::drain(*src, pool, 2, std::chrono::seconds(30), 4);
  t.join();
  ASSERT_EQ(got.size(), 2u);
  const auto& a = got[0];
  EXPECT_EQ(a.counts.end, SeriesEnd::kRestarted);
  EXPECT_EQ(a.coverage, (std::vector<std::uint8_t>{1, 0, 0, 0, 1, 0}));
  EXPECT_EQ(a.counts.frames_received, 7u);
  EXPECT_EQ(a.counts.frames_accepted, 2u);
  EXPECT_EQ(a.counts.dropped[std::size_t(DropReason::kMalformed)], 1u);
  EXPECT_EQ(a.counts.dropped[std::size_t(DropReason::kDecodeError)], 1u);
  EXPECT_EQ(a.counts.dropped[std::size_t(DropReason::kIndexOutOfRange)], 1u);
  EXPECT_EQ(a.counts.dropped[std::size_t(DropReason::kWrongSeries)], 1u);
  EXPECT_EQ(a.counts.dropped[std::size_t(DropReason::kUnknownMessage)], 1u);
  expect_frames_equal(a, scan, 0);
  expect_frames_equal(a, scan, 4);
  const auto& b = got[1];
  EXPECT_EQ(b.header.series_id, 2u);
  EXPECT_EQ(b.counts.end, SeriesEnd::kComplete);
  EXPECT_EQ(b.counts.frames_accepted, 6u);
  for (std::uint64_t i = 0; i < 6; ++i) expect_frames_equal(b, scan, i);
}

// Spec: --loop sends several series; each is received whole, with its own id.
TEST(DectrisStream2, SeveralSeriesInARow) {
  const Scan scan = make_scan(Dtype::kU8, 3, 3);
  const auto r = run("dectris-stream2", scan, Codec::kBslz4, {}, {"threshold_1"}, {}, 1, 3);
  ASSERT_EQ(r.got.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(r.got[k].header.series_id, 7u + k);
    EXPECT_EQ(r.got[k].counts.end, SeriesEnd::kComplete);
    EXPECT_EQ(r.got[k].counts.frames_accepted, 9u);
  }
}

// ---- stream V1 image hashes ---------------------------------------------------------------------

namespace {

// stemflow-sim's stream V1 sender on `ep`, with md5 hashes on or off.
auto stream1_sender(const std::string& ep, Codec codec, bool hash) {
  sim::ProtocolOptions so;
  so.protocol = "dectris-stream1";
  so.endpoints = {ep};
  so.codec = codec;
  so.hash = hash;
  so.linger = milliseconds(5000);
  return sim::make_protocol_sender(so);
}

// A stream V1 receiver's options: one endpoint, md5 hashes verified or not.
ingest::DectrisStreamOptions stream1_options(const std::string& ep,
                                             milliseconds timeout,
                                             bool verify) {
  ingest::DectrisStreamOptions o;
  o.version = 1;
  o.endpoints = {ep};
  o.series_timeout = test::scaled(timeout);
  o.read_ahead = 8;
  o.verify_hash = verify;
  return o;
}

// Stream V1 from stemflow-sim's sender (md5 hashes on or off) into a receiver that verifies them
// or not.
Run run_stream1(const Scan& scan,
                Codec codec,
                const sim::FaultPlan& faults,
                bool sender_hash,
                bool verify_hash) {
  const std::string ep = endpoint(test::free_port());
  auto sender = stream1_sender(ep, codec, sender_hash);
  BatchPool pool(8 << 20);
  ingest::DectrisStreamSource src(pool, stream1_options(ep, milliseconds(1500), verify_hash));
  Run r;
  std::thread t([&] {
    sim::SendParams p;
    p.header = scan.header;
    p.render = [&](std::uint64_t i, std::span<std::byte> out) {
      std::memcpy(out.data(), scan.frame(i), out.size());
    };
    p.faults = faults;
    std::this_thread::sleep_for(milliseconds(200));
    r.logs = sim::send_series(*sender, p);
  });
  r.got = test::drain(src, pool, 1, std::chrono::seconds(60), 6);
  t.join();
  return r;
}

std::span<const std::uint8_t> bytes_of(const zmq::message_t& m) {
  return {m.data<std::uint8_t>(), m.size()};
}

}  // namespace

// Spec: stemflow-sim's stream V1 sender writes into "hash" the md5 of the blob it sends, as 32
// lower-case hex digits (hashlib.md5(blob).hexdigest(); md5 itself is checked against RFC 1321 in
// test_codecs); a blob damaged in transit keeps the intact blob's md5; with hashing off the hash
// is empty.
TEST(DectrisStream1, SenderHashIsTheMd5OfTheBlob) {
  const Scan scan = make_scan(Dtype::kU16, 1, 3);
  for (const bool hash : {true, false}) {
    for (const Codec codec : {Codec::kBslz4, Codec::kNone}) {
      SCOPED_TRACE(std::string(hash ? "hash " : "no hash ") +
                   std::string(ingest::codecs::codec_name(codec)));
      const std::string ep = endpoint(test::free_port());
      auto sender = stream1_sender(ep, codec, hash);
      zmq::context_t ctx(1);
      zmq::socket_t pull(ctx, zmq::socket_type::pull);
      pull.set(zmq::sockopt::rcvtimeo, 10000);
      pull.connect(ep);
      std::this_thread::sleep_for(milliseconds(200));
      sender->start(scan.header);
      std::vector<std::uint8_t> enc, damaged;
      for (std::uint64_t i = 0; i < 3; ++i) {
        sender->encode({scan.frame(i), scan.header.frame_bytes()}, enc);
        if (i == 1) {
          damaged = enc;
          damaged[damaged.size() / 2] ^= 0x01;
          sender->send_damaged(i, enc, damaged);
        } else {
          sender->send_encoded(i, enc);
        }
      }
      sender->end();
      std::uint64_t images = 0;
      for (;;) {
        std::vector<zmq::message_t> parts;
        do {
          parts.emplace_back();
          ASSERT_TRUE(pull.recv(parts.back(), zmq::recv_flags::none)) << "timed out";
        } while (parts.back().more());
        const auto p1 = nlohmann::json::parse(parts[0].to_string());
        if (p1.at("htype") == "dseries_end-1.0") break;
        if (p1.at("htype") != "dimage-1.0") continue;
        ASSERT_EQ(parts.size(), 4u);
        const auto frame = p1.at("frame").get<std::uint64_t>();
        const std::string got = p1.at("hash").get<std::string>();
        std::vector<std::uint8_t> intact;
        sender->encode({scan.frame(frame), scan.header.frame_bytes()}, intact);
        if (!hash) {
          EXPECT_EQ(got, "") << "frame " << frame;
        } else {
          EXPECT_EQ(got, ingest::codecs::md5_hex(ingest::codecs::md5(intact))) << "frame " << frame;
          EXPECT_EQ(got.size(), 32u);
          EXPECT_EQ(got.find_first_not_of("0123456789abcdef"), std::string::npos) << got;
          const bool blob_intact = frame != 1;
          const std::string sent = ingest::codecs::md5_hex(ingest::codecs::md5(bytes_of(parts[2])));
          EXPECT_EQ(got == sent, blob_intact) << "frame " << frame;
        }
        ++images;
      }
      EXPECT_EQ(images, 3u);
    }
  }
}

// Spec: with input.verify_hash, each V1 image blob is checked against its message's md5: blobs
// changed after hashing (a flipped byte that still decodes, a truncated block) are dropped as
// hash_mismatch, a hash that is not 32 hex digits as malformed; an empty hash and an upper-case one
// pass. Without verify_hash the hash is not looked at: the flipped frame is kept as it came, the
// truncated one is a decode_error.
TEST(DectrisStream1, VerifyHashDropsBlobsChangedAfterHashing) {
  const Scan scan = make_scan(Dtype::kU16, 2, 3);
  for (const bool verify : {false, true}) {
    SCOPED_TRACE(verify ? "verify_hash" : "no verify_hash");
    const std::string ep = endpoint(test::free_port());
    zmq::context_t ctx(1);
    zmq::socket_t push(ctx, zmq::socket_type::push);
    push.set(zmq::sockopt::linger, 5000);
    push.bind(ep);
    BatchPool pool(8 << 20);
    ingest::DectrisStreamSource src(pool, stream1_options(ep, milliseconds(3000), verify));
    const auto* frame1 = reinterpret_cast<const std::uint8_t*>(scan.frame(1));
    std::vector<std::uint8_t> flipped(frame1, frame1 + scan.header.frame_bytes());
    flipped[100] ^= 0x04;  // one pixel changed: still a valid uncompressed frame
    std::thread t([&] {
      std::this_thread::sleep_for(milliseconds(200));
      ingest::stream1::Header h;
      h.series = 3;
      h.x_pixels = 56;
      h.y_pixels = 40;
      h.dtype = Dtype::kU16;
      h.frames = 6;
      h.scan_shape = std::array<std::uint32_t, 2>{2, 3};
      const auto hp = ingest::stream1::encode_header(h);
      push.send(zmq::buffer(hp[0]), zmq::send_flags::sndmore);
      push.send(zmq::buffer(hp[1]), zmq::send_flags::none);
      // Frame i: `sent` as its blob, `hash` as its part 1 "hash".
      const auto image = [&](std::uint64_t i,
                             Codec codec,
                             std::span<const std::uint8_t> sent,
                             const std::string& hash) {
        const auto p =
            ingest::stream1::encode_image(3, i, 40, 56, Dtype::kU16, codec, sent.size(), hash);
        push.send(zmq::buffer(p.part1), zmq::send_flags::sndmore);
        push.send(zmq::buffer(p.part2), zmq::send_flags::sndmore);
        push.send(zmq::const_buffer(sent.data(), sent.size()), zmq::send_flags::sndmore);
        push.send(zmq::buffer(p.part4), zmq::send_flags::none);
      };
      const auto md5 = [](std::span<const std::uint8_t> b) {
        return ingest::codecs::md5_hex(ingest::codecs::md5(b));
      };
      std::vector<std::vector<std::uint8_t>> enc(6);
      for (std::uint64_t i = 0; i < 6; ++i) {
        const auto* px = reinterpret_cast<const std::uint8_t*>(scan.frame(i));
        ingest::codecs::bslz4_compress({px, scan.header.frame_bytes()}, 2, enc[i]);
      }
      const std::span<const std::uint8_t> raw1(frame1, scan.header.frame_bytes());
      image(0, Codec::kBslz4, enc[0], md5(enc[0]));
      image(1, Codec::kNone, flipped, md5(raw1));  // a byte flipped after hashing
      image(2, Codec::kBslz4, enc[2], "");         // no hash
      image(3, Codec::kBslz4, {enc[3].data(), enc[3].size() - 20}, md5(enc[3]));  // truncated
      image(4, Codec::kBslz4, enc[4], "not-an-md5");
      std::string upper = md5(enc[5]);
      for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      image(5, Codec::kBslz4, enc[5], upper);
      push.send(zmq::buffer(ingest::stream1::encode_end(3)), zmq::send_flags::none);
    });
    const auto got = test::drain(src, pool, 1, std::chrono::seconds(30), 4);
    t.join();
    ASSERT_EQ(got.size(), 1u);
    const auto& s = got[0];
    EXPECT_EQ(s.counts.end, SeriesEnd::kComplete);
    EXPECT_EQ(s.counts.frames_received, 6u);
    const auto dropped = [&](DropReason r) { return s.counts.dropped[std::size_t(r)]; };
    if (verify) {
      EXPECT_EQ(s.coverage, (std::vector<std::uint8_t>{1, 0, 1, 0, 0, 1}));
      EXPECT_EQ(dropped(DropReason::kHashMismatch), 2u);
      EXPECT_EQ(dropped(DropReason::kMalformed), 1u);
      EXPECT_EQ(s.counts.dropped_total(), 3u);
    } else {
      EXPECT_EQ(s.coverage, (std::vector<std::uint8_t>{1, 1, 1, 0, 1, 1}));
      EXPECT_EQ(dropped(DropReason::kDecodeError), 1u);
      EXPECT_EQ(s.counts.dropped_total(), 1u);
      EXPECT_EQ(0, std::memcmp(s.frame(1), flipped.data(), flipped.size()));
      expect_frames_equal(s, scan, 4);
    }
    for (std::uint64_t i : {0, 2, 5}) expect_frames_equal(s, scan, i);
  }
}

// Spec: stemflow-sim's corrupt fault damages blobs after hashing: a receiver that verifies hashes
// drops each as hash_mismatch (without verify_hash they are decode_error, see
// FaultInjection.CoverageAndCountsMatchTheLog) and keeps every other frame; a sender that does not
// hash (--no-hash) sends empty hashes, which pass, and its damaged blobs fail decoding.
TEST(DectrisStream1, VerifyHashCatchesInjectedCorruption) {
  const Scan scan = make_scan(Dtype::kU16, 6, 6, 13);
  const auto faults = sim::FaultPlan::parse("corrupt=0.2", 9);
  for (const bool sender_hash : {true, false}) {
    SCOPED_TRACE(sender_hash ? "sender hashes" : "sender does not hash");
    const auto r = run_stream1(scan, Codec::kBslz4, faults, sender_hash, true);
    ASSERT_EQ(r.got.size(), 1u);
    ASSERT_EQ(r.logs.size(), 1u);
    const auto& s = r.got[0];
    const auto& log = r.logs[0];
    ASSERT_FALSE(log.corrupted.empty());
    std::vector<std::uint8_t> expect(36, 1);
    for (auto i : log.corrupted) expect[i] = 0;
    EXPECT_EQ(s.counts.end, SeriesEnd::kComplete);
    EXPECT_EQ(s.coverage, expect);
    EXPECT_EQ(s.counts.frames_accepted, 36 - log.corrupted.size());
    const auto reason = sender_hash ? DropReason::kHashMismatch : DropReason::kDecodeError;
    EXPECT_EQ(s.counts.dropped[std::size_t(reason)], log.corrupted.size());
    EXPECT_EQ(s.counts.dropped_total(), log.corrupted.size());
    for (std::uint64_t i = 0; i < 36; ++i) {
      if (expect[i]) expect_frames_equal(s, scan, i);
    }
  }
}
