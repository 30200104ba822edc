// SPDX-License-Identifier: GPL-3.0-or-later
// Compressed frames between their arrival and their batch. A source pushes frames as they come
// (a received message, or a chunk read from a file); assemble() gives them their places in the
// batch being filled, in arrival order, and decodes them in parallel (oneTBB, one frame per task)
// straight into those places. A frame whose encoded bytes do not have the MD5 they should (when the
// source gives one: stream V1 with input.verify_hash) is not decoded. A frame that fails either way
// was already placed: it is counted as dropped (hash_mismatch or decode_error) at once and taken
// out of its batch by fix_batch() before the batch leaves the source, so a corrupt frame never
// reaches an operator and never shifts its neighbours.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>
#include <zmq.hpp>

#include "ingest/codecs/compression.hpp"
#include "ingest/series_assembler.hpp"

namespace stemflow::ingest {

class DecodeQueue {
 public:
  struct Frame {
    std::uint64_t index = 0;  // scan position
    codecs::Codec codec = codecs::Codec::kNone;
    std::uint32_t elem_size = 1;
    std::span<const std::uint8_t> data;  // the encoded pixels, inside `message` or `buffer`
    zmq::message_t message;              // keeps a received message's bytes alive
    std::vector<std::uint8_t> buffer;    // or owns them (file replay); capacity is reused
    //! When set, the md5 `data` must have (checked before decoding; hash_mismatch if not).
    std::optional<codecs::Md5Digest> md5;
  };

  //! At most `capacity` frames wait at once (the read-ahead bound).
  explicit DecodeQueue(std::size_t capacity);

  bool empty() const { return count_ == 0; }
  bool full() const { return count_ == ring_.size(); }
  std::size_t size() const { return count_; }
  //! A slot at the back to fill (no md5 set); call only when !full(). Its buffer keeps its old
  //! capacity.
  Frame& push();
  //! Undoes the last push() (the source found the message unusable after all).
  void pop_back();

  //! Places pending frames into batches until one batch becomes ready or none is left, then
  //! checks and decodes the placed frames in parallel. Frames the assembler refuses (duplicate, out
  //! of range) are counted there and skipped. `frame_bytes` is the decoded size of every frame.
  void assemble(SeriesAssembler& assembler, std::size_t frame_bytes);
  //! Drops every pending frame with `reason` (the series ended or was cut off before they could be
  //! placed).
  void discard(SeriesAssembler& assembler, DropReason reason, std::string_view detail);
  //! Takes the frames that failed (hash or decoding) out of `batch` (compacting it; the batch may
  //! end up empty). Every batch a source hands to the engine must pass through here.
  FrameBatch* fix_batch(FrameBatch* batch);

 private:
  Frame& at(std::size_t i) { return ring_[(head_ + i) % ring_.size()]; }
  void pop_front();

  std::vector<Frame> ring_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::vector<codecs::DecodeJob> jobs_;
  std::vector<std::uint64_t> job_index_;
  std::vector<const std::byte*> failed_;  // places (in batches not yet handed out) of failed frames
};

}  // namespace stemflow::ingest
