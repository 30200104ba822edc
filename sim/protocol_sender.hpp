// SPDX-License-Identifier: GPL-3.0-or-later
// One interface over the wire protocols stemflow-sim speaks: native, DECTRIS stream V2 and V1, and
// Merlin. Pixels are first encoded in the protocol's pixel format (compressed for DECTRIS,
// big-endian for Merlin), so a sender can encode a frame once and send it many times (benchmarks),
// or send a damaged encoding (fault injection).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ingest/codecs/compression.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow::sim {

struct ProtocolOptions {
  std::string protocol = "native";  // native, dectris-stream2, dectris-stream1, merlin
  //! ZeroMQ endpoints (one PUSH socket each: frames are spread round-robin, start and end go to
  //! every socket), or for merlin one tcp://HOST:PORT to listen on.
  std::vector<std::string> endpoints;
  bool bind = true;
  int send_hwm = 256;
  std::chrono::milliseconds linger{60000};
  //! DECTRIS pixel encoding: bslz4 (default), lz4 (V2: HDF5-framed; V1: raw block "lz4<") or none.
  ingest::codecs::Codec codec = ingest::codecs::Codec::kBslz4;
  //! stream V2 channels: the frame goes to the first; the others carry the frame's pixels too,
  //! with every value + 1 (so that a receiver taking the wrong channel is caught).
  std::vector<std::string> channels = {"threshold_1"};
  //! stream V1: put the md5 of each blob into its message's "hash" (as a detector does); off, the
  //! hash is empty. The md5 runs on the sending thread, about 1.4 ns per blob byte.
  bool hash = true;
  std::chrono::milliseconds accept_timeout{60000};  // merlin: wait this long for the receiver
  //! merlin: 0 sends counts (U08/U16/U32 as the frame's dtype); 1, 6, 12 or 24 sends raw (R64)
  //! frames of that counter depth, which arrive as u8 (1, 6), u16 (12) or u32 (24) whatever the
  //! dtype sent. Values above the depth's maximum are clamped to it (see take_clamped).
  std::uint32_t merlin_raw_depth = 0;
  //! merlin raw: the chips' layout, 1x1 (one chip; any frame whose pixel count is a multiple of
  //! 64), 2x2 (a quad: 512x512 frames), 2x2G (a quad with 2-pixel gaps: 514x514 frames, the gap
  //! pixels not sent, arriving as 0), or auto (2x2 for 512x512 frames, 2x2G for 514x514, else 1x1).
  std::string merlin_layout = "auto";
};

class ProtocolSender {
 public:
  virtual ~ProtocolSender() = default;
  //! Sets the frame format encode() follows, so that frames can be encoded before the series
  //! starts (--unique); start() sets it too. Throws ConfigError for frames the protocol cannot
  //! carry.
  virtual void prepare(const SeriesHeader& header) = 0;
  virtual void start(const SeriesHeader& header) = 0;
  //! The frame in the protocol's pixel encoding; `out` is overwritten (and reallocated only when
  //! too small). Thread-safe: the send loop encodes frames in parallel.
  virtual void encode(std::span<const std::byte> pixels, std::vector<std::uint8_t>& out) = 0;
  //! Pixel values encode() clamped to the range the wire can carry since the last call (Merlin
  //! raw: above the counter depth's maximum).
  virtual std::uint64_t take_clamped() { return 0; }
  //! Sends frame `index` given in the encoding of encode(), as it is (corrupt data included).
  virtual void send_encoded(std::uint64_t index, std::span<const std::uint8_t> encoded) = 0;
  //! Sends `damaged` in place of `encoded`, as if damaged in transit: a checksum the protocol
  //! carries (stream V1 "hash") is that of `encoded`. Protocols without one send `damaged` as is.
  virtual void send_damaged(std::uint64_t index,
                            std::span<const std::uint8_t> encoded,
                            std::span<const std::uint8_t> damaged) {
    (void)encoded;
    send_encoded(index, damaged);
  }
  virtual void end() = 0;
  //! Closes the connection (after what is queued has left) and opens it again, then announces the
  //! series in progress again as a detector restarting its stream does, so that the frames that
  //! follow belong to it: native and DECTRIS re-send the series' start message (same series id,
  //! stream V2 the same series_unique_id), Merlin its acquisition header. Returns what it re-sent,
  //! for the fault log.
  virtual std::string reconnect() = 0;

  void frame(std::uint64_t index, std::span<const std::byte> pixels) {
    encode(pixels, scratch_);
    send_encoded(index, scratch_);
  }

 private:
  std::vector<std::uint8_t> scratch_;
};

//! Throws ConfigError for an unknown protocol or an endpoint that cannot be opened.
std::unique_ptr<ProtocolSender> make_protocol_sender(const ProtocolOptions& options);

}  // namespace stemflow::sim
