// SPDX-License-Identifier: GPL-3.0-or-later
// Receiver for DECTRIS SIMPLON streams, V2 (CBOR, input.protocol = "dectris-stream2") and V1 (JSON
// multipart, "dectris-stream1"): a ZeroMQ PULL socket connected (or bound) to one or more
// endpoints. Messages are kept as they arrive (no copy); compressed pixels wait in a DecodeQueue
// and are decoded in parallel straight into the batch (V1 with verify_hash: after their md5 is
// checked, in the same task). Start and end messages wait until every frame received before them
// has its place, so frames never cross a series boundary.
//
// Several endpoints feed one series when each sender (one per endpoint) sends the series' start
// message, a share of its images and its end message: starts of the current series are merged and
// the series ends with the end message of every endpoint.
#pragma once

#include <array>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "ingest/dectris/cbor.hpp"
#include "ingest/dectris/decode_queue.hpp"
#include "ingest/receiver.hpp"

namespace stemflow::ingest {

struct DectrisStreamOptions {
  int version = 2;  // 1: stream V1 (JSON), 2: stream V2 (CBOR)
  std::vector<std::string> endpoints;
  bool bind = false;
  int io_threads = 1;
  int receive_hwm = 256;
  std::chrono::milliseconds series_timeout{10000};
  std::chrono::milliseconds batch_timeout{100};
  std::chrono::milliseconds poll_interval{50};
  std::chrono::milliseconds drain_limit{2000};
  std::string channel;                        // V2: image channel by name; empty = the first
  std::array<std::uint32_t, 2> scan_shape{};  // used when the stream does not give one
  std::uint64_t image_id_base = 0;  // image id of the first frame (V2; V1 frames are 0-based)
  std::size_t read_ahead = 64;      // compressed frames held before decoding
  //! V1: check each image blob against the md5 in its message ("hash"; an empty one is accepted),
  //! on the decode threads; a blob that does not match is dropped as hash_mismatch.
  bool verify_hash = false;
  std::shared_ptr<SeriesPeers> peers;  // the other ranks of an MPI job on the same sender
};

class DectrisStreamSource final : public Receiver {
 public:
  //! Opens the socket (throws ConfigError on a bad endpoint).
  DectrisStreamSource(BatchPool& pool, DectrisStreamOptions options);

  FrameBatch* take_batch() override { return queue_.fix_batch(Receiver::take_batch()); }
  std::string describe() const override;

 private:
  //! A decoded message, protocol independent. `data` points into parts_[data_part].
  struct Parsed {
    enum class Kind { kStart, kImage, kEnd } kind = Kind::kImage;
    SeriesHeader header;    // kStart
    std::string unique_id;  // kStart, kImage, kEnd (V2; empty for V1)
    std::uint64_t series_id = 0;
    std::uint64_t image_id = 0;  // kImage: frame number as sent
    std::uint32_t rows = 0, cols = 0;
    Dtype dtype = Dtype::kU16;
    codecs::Codec codec = codecs::Codec::kNone;
    std::uint32_t elem_size = 1;
    std::span<const std::uint8_t> data;
    std::size_t data_part = 0;
    std::optional<codecs::Md5Digest> md5;  // V1: the md5 of `data` the message carries
    bool md5_malformed = false;            // V1: a "hash" that is not 32 hex digits
  };

  bool receive(std::chrono::milliseconds wait) override;
  bool resume_held() override;
  bool place_pending() override;
  void on_series_started() override;
  //! Places queued frames (and decodes them) until a batch is ready or none is left.
  void place();
  bool receive_message(std::chrono::milliseconds wait);
  Expected<Parsed> parse();
  void process_message();
  void handle_start(Parsed& p);
  void handle_image(Parsed& p);
  void handle_end(const Parsed& p);
  SeriesHeader make_header(std::uint64_t series_id,
                           std::uint32_t rows,
                           std::uint32_t cols,
                           Dtype dtype,
                           std::uint64_t images,
                           const std::optional<std::array<std::uint32_t, 2>>& stream_scan) const;

  DectrisStreamOptions options_;
  zmq::context_t context_;
  zmq::socket_t socket_;
  DecodeQueue queue_;
  cbor::CborDocument doc_;
  std::vector<zmq::message_t> parts_;
  std::size_t n_parts_ = 0;
  bool held_ = false;  // parts_ hold a start/end message waiting for the queue to empty
  // Image messages that arrived before their series started, while its start is on its way from
  // another rank (Receiver::may_hold_early_frame): placed once it has.
  std::deque<std::vector<zmq::message_t>> early_;
  std::chrono::steady_clock::time_point early_since_{};
  std::string unique_id_;  // of the current series (V2)
  std::size_t ends_seen_ = 0;
};

}  // namespace stemflow::ingest
