// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/dectris/decode_queue.hpp"

#include <algorithm>
#include <cstring>

namespace stemflow::ingest {

DecodeQueue::DecodeQueue(std::size_t capacity) : ring_(std::max<std::size_t>(capacity, 1)) {
  jobs_.reserve(ring_.size());
  job_index_.reserve(ring_.size());
}

DecodeQueue::Frame& DecodeQueue::push() {
  Frame& f = at(count_++);
  f.data = {};
  f.md5.reset();
  f.message.rebuild();
  return f;
}

void DecodeQueue::pop_back() {
  Frame& f = at(--count_);
  f.data = {};
  f.message.rebuild();
}

void DecodeQueue::pop_front() {
  Frame& f = at(0);
  f.data = {};
  f.message.rebuild();  // hands the received bytes back to ZeroMQ now
  head_ = (head_ + 1) % ring_.size();
  --count_;
}

void DecodeQueue::assemble(SeriesAssembler& assembler, std::size_t frame_bytes) {
  jobs_.clear();
  job_index_.clear();
  std::size_t taken = 0;
  // Stop placing as soon as a batch is ready: the source hands it out before filling more, so that
  // it never holds more than one full batch while waiting for a free slot.
  while (taken < count_ && !assembler.has_ready()) {
    Frame& f = at(taken++);
    auto dst = assembler.reserve(f.index);
    if (!dst) continue;  // counted by the assembler
    jobs_.push_back({f.codec,
                     f.elem_size,
                     f.data,
                     {reinterpret_cast<std::uint8_t*>(*dst), frame_bytes},
                     f.md5,
                     std::nullopt});
    job_index_.push_back(f.index);
    assembler.commit(f.index, frame_bytes);
  }
  codecs::decode_frames(jobs_);
  for (std::size_t j = 0; j < jobs_.size(); ++j) {
    if (!jobs_[j].error) continue;
    const auto reason = jobs_[j].error->reason == DropReason::kHashMismatch
                            ? DropReason::kHashMismatch
                            : DropReason::kDecodeError;
    assembler.drop_committed(
        reason,
        "frame " + std::to_string(job_index_[j]) + ": " + jobs_[j].error->message,
        frame_bytes);
    failed_.push_back(reinterpret_cast<const std::byte*>(jobs_[j].dst.data()));
  }
  while (taken-- > 0) pop_front();
}

void DecodeQueue::discard(SeriesAssembler& assembler, DropReason reason, std::string_view detail) {
  while (count_ > 0) {
    if (assembler.active()) assembler.drop(reason, detail);
    pop_front();
  }
}

FrameBatch* DecodeQueue::fix_batch(FrameBatch* b) {
  if (b == nullptr || failed_.empty()) return b;
  std::uint32_t w = 0;
  for (std::uint32_t r = 0; r < b->count; ++r) {
    auto it = std::find(failed_.begin(), failed_.end(), b->frame_data(r));
    if (it != failed_.end()) {
      failed_.erase(it);
      continue;
    }
    if (w != r) {
      std::memmove(b->frame_data(w), b->frame_data(r), b->frame_bytes);
      b->index[w] = b->index[r];
    }
    ++w;
  }
  b->count = w;
  return b;
}

}  // namespace stemflow::ingest
