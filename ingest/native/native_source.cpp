// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/native/native_source.hpp"

#include <spdlog/spdlog.h>

#include "ingest/zmq_pull.hpp"

namespace stemflow::ingest {

namespace {
// A frame header is ~100 bytes; a start message with metadata a few KiB. Anything larger than this
// is not a message of ours.
constexpr std::size_t kMaxPart1 = 1 << 20;

}  // namespace

NativeZmqSource::NativeZmqSource(BatchPool& pool, NativeOptions options)
    : options_(std::move(options)),
      context_(1),
      socket_(context_, zmq::socket_type::pull),
      assembler_(pool),
      part1_(kMaxPart1) {
  open_pull(socket_, options_.endpoints, options_.bind, options_.receive_hwm);
  spdlog::info("native receiver {} {}", options_.bind ? "bound to" : "connected to", describe());
}

std::string NativeZmqSource::describe() const {
  return join_endpoints(options_.endpoints);
}

void NativeZmqSource::count_drop(DropReason reason, std::string_view detail) {
  if (assembler_.active()) {
    assembler_.drop(reason, detail);
  } else {
    orphan_log_.record(orphans_, reason, detail);
  }
}

void NativeZmqSource::discard_rest() {
  while (socket_.get(zmq::sockopt::rcvmore)) {
    zmq::message_t m;
    (void)socket_.recv(m, zmq::recv_flags::none);
  }
}

SourceStatus NativeZmqSource::next() {
  for (;;) {
    if (assembler_.has_ready()) return SourceStatus::kBatchReady;
    if (!pending_.empty()) {
      const auto s = pending_.front();
      pending_.pop_front();
      if (s == SourceStatus::kSeriesStarted) assembler_.start(*next_header_);
      return s;
    }
    if (finished_) return SourceStatus::kFinished;

    if (stop_requested()) {
      // Drain what is already queued locally, so that nothing received is lost, then end.
      const auto now = std::chrono::steady_clock::now();
      if (!drain_started_) drain_started_ = now;
      if (now - *drain_started_ < options_.drain_limit && receive_one()) continue;
      if (assembler_.active()) {
        assembler_.finish(SeriesEnd::kInterrupted);
        pending_.push_back(SourceStatus::kSeriesEnded);
      }
      finished_ = true;
      continue;
    }

    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, options_.poll_interval);
    if (item.revents & ZMQ_POLLIN) {
      receive_one();
      continue;
    }
    check_timeouts();
    if (assembler_.has_ready() || !pending_.empty()) continue;
    return SourceStatus::kIdle;
  }
}

void NativeZmqSource::check_timeouts() {
  if (assembler_.silent_too_long(last_message_, options_.series_timeout, options_.batch_timeout)) {
    assembler_.finish(SeriesEnd::kTimeout);
    pending_.push_back(SourceStatus::kSeriesEnded);
  }
}

bool NativeZmqSource::receive_one() {
  const auto r = socket_.recv(zmq::mutable_buffer(part1_.data(), part1_.size()),
                              zmq::recv_flags::dontwait);
  if (!r) return false;
  last_message_ = std::chrono::steady_clock::now();
  const bool more = socket_.get(zmq::sockopt::rcvmore);
  if (r->truncated()) {
    count_drop(DropReason::kMalformed, "message part of " + std::to_string(r->untruncated_size) +
                                           " bytes is too large for a native header");
    discard_rest();
    return true;
  }
  auto msg = parse_guarded([&] { return wire::decode({part1_.data(), r->size}); });
  if (!msg) {
    if (assembler_.active()) ++assembler_.counts().frames_received;
    count_drop(drop_reason_of(msg.error()), msg.error().message);
    discard_rest();
    return true;
  }
  if (auto* f = std::get_if<wire::FrameHeader>(&*msg)) {
    handle_frame(*f, more);
    return true;
  }
  discard_rest();  // start and end messages are single-part; ignore anything after them
  if (auto* h = std::get_if<SeriesHeader>(&*msg)) {
    if (h->scan_size() == 0 || h->frame_pixels() == 0) {
      count_drop(DropReason::kMalformed, "series start with an empty scan or frame shape");
      return true;
    }
    if (assembler_.active()) {
      spdlog::warn("series {} restarted by series {} after {} of {} frames",
                   assembler_.header().series_id, h->series_id,
                   assembler_.counts().frames_accepted, assembler_.header().scan_size());
      assembler_.finish(SeriesEnd::kRestarted);
      pending_.push_back(SourceStatus::kSeriesEnded);
    }
    next_header_ = *h;
    pending_.push_back(SourceStatus::kSeriesStarted);
    return true;
  }
  const auto& end = std::get<wire::End>(*msg);
  if (!assembler_.active() || end.series_id != assembler_.header().series_id) {
    // Belongs to no current series: counted with the messages outside a series.
    orphan_log_.record(orphans_, assembler_.active() ? DropReason::kWrongSeries : DropReason::kNoSeries,
                       "end of series " + std::to_string(end.series_id) +
                           ", which is not the current series");
    return true;
  }
  assembler_.counts().frames_announced = end.frames_sent;
  assembler_.finish(SeriesEnd::kComplete);
  pending_.push_back(SourceStatus::kSeriesEnded);
  return true;
}

void NativeZmqSource::handle_frame(const wire::FrameHeader& f, bool more) {
  if (!assembler_.active()) {
    count_drop(DropReason::kNoSeries, "frame of series " + std::to_string(f.series_id) +
                                          " arrived outside any started series" +
                                          std::string(kNoSeriesHint));
    discard_rest();
    return;
  }
  auto& counts = assembler_.counts();
  ++counts.frames_received;
  const auto& h = assembler_.header();
  if (f.series_id != h.series_id) {
    count_drop(DropReason::kWrongSeries, "frame of series " + std::to_string(f.series_id) +
                                             " during series " + std::to_string(h.series_id));
    discard_rest();
    return;
  }
  if (f.dtype != h.dtype) {
    count_drop(DropReason::kWrongDtype, "frame dtype " + std::string(dtype_name(f.dtype)) +
                                            ", series dtype " + std::string(dtype_name(h.dtype)));
    discard_rest();
    return;
  }
  if (f.pixel_bytes != h.frame_bytes()) {
    count_drop(DropReason::kWrongSize, "frame header announces " + std::to_string(f.pixel_bytes) +
                                           " bytes, series frames have " +
                                           std::to_string(h.frame_bytes()));
    discard_rest();
    return;
  }
  if (!more) {
    count_drop(DropReason::kMalformed, "frame message without its pixel part");
    return;
  }
  auto dst = assembler_.reserve(f.frame_index);
  if (!dst) {
    discard_rest();
    return;
  }
  const std::size_t n = h.frame_bytes();
  const auto r = socket_.recv(zmq::mutable_buffer(*dst, n), zmq::recv_flags::none);
  const bool extra = socket_.get(zmq::sockopt::rcvmore);
  if (!r || r->untruncated_size != n) {
    count_drop(DropReason::kWrongSize,
               "pixel part of " + std::to_string(r ? r->untruncated_size : 0) +
                   " bytes, expected " + std::to_string(n));
    discard_rest();
    return;
  }
  if (extra) {
    count_drop(DropReason::kMalformed, "frame message with more than two parts");
    discard_rest();
    return;
  }
  assembler_.commit(f.frame_index, n);
}

}  // namespace stemflow::ingest
