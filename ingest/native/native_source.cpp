// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/native/native_source.hpp"

#include <spdlog/spdlog.h>

#include <cstring>

#include "ingest/zmq_pull.hpp"

namespace stemflow::ingest {

namespace {
// A frame header is ~100 bytes; a start message with metadata a few KiB. Anything larger than this
// is not a message of ours.
constexpr std::size_t kMaxPart1 = 1 << 20;

//! Whether a start announces the same series: the same id, scan and frames. (The native protocol
//! has no unique id per acquisition; a new acquisition under the same id and shape cannot be told
//! from the same one re-announced, as with DECTRIS stream V1.)
bool same_series(const SeriesHeader& a, const SeriesHeader& b) {
  return a.series_id == b.series_id && a.scan_rows == b.scan_rows && a.scan_cols == b.scan_cols &&
         a.frame_rows == b.frame_rows && a.frame_cols == b.frame_cols && a.dtype == b.dtype;
}
}  // namespace

NativeZmqSource::NativeZmqSource(BatchPool& pool, NativeOptions options)
    : Receiver(pool, timing_of(options), options.peers),
      options_(std::move(options)),
      context_(1),
      socket_(context_, zmq::socket_type::pull),
      part1_(kMaxPart1) {
  open_pull(socket_, options_.endpoints, options_.bind, options_.receive_hwm);
  spdlog::info("native receiver {} {}", options_.bind ? "bound to" : "connected to", describe());
}

std::string NativeZmqSource::describe() const { return join_endpoints(options_.endpoints); }

void NativeZmqSource::discard_rest() {
  while (socket_.get(zmq::sockopt::rcvmore)) {
    zmq::message_t m;
    (void)socket_.recv(m, zmq::recv_flags::none);
  }
}

bool NativeZmqSource::receive(std::chrono::milliseconds wait) {
  zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, wait);
  if (!(item.revents & ZMQ_POLLIN)) return false;
  receive_one();
  return true;
}

bool NativeZmqSource::receive_one() {
  const auto r =
      socket_.recv(zmq::mutable_buffer(part1_.data(), part1_.size()), zmq::recv_flags::dontwait);
  if (!r) return false;
  message_arrived();
  const bool more = socket_.get(zmq::sockopt::rcvmore);
  if (r->truncated()) {
    count_drop(DropReason::kMalformed,
               "message part of " + std::to_string(r->untruncated_size) +
                   " bytes is too large for a native header");
    discard_rest();
    return true;
  }
  auto msg = parse_guarded([&] { return wire::decode({part1_.data(), r->size}); });
  if (!msg) {
    count_undecodable(drop_reason_of(msg.error()), msg.error().message);
    discard_rest();
    return true;
  }
  if (auto* f = std::get_if<wire::FrameHeader>(&*msg)) {
    handle_frame(*f, more, nullptr);
    return true;
  }
  discard_rest();  // start and end messages are single-part; ignore anything after them
  if (auto* h = std::get_if<SeriesHeader>(&*msg)) {
    if (!usable_start(*h)) return true;
    if (assembler().active() && same_series(assembler().header(), *h)) {
      // The sender announced the series in progress again: it reconnected (a restarted stream)
      // and goes on with it. Ending it here would split one scan into two incomplete series.
      spdlog::warn(
          "series {} announced again after {} of {} frames (the sender reconnected): "
          "it goes on",
          h->series_id,
          assembler().counts().frames_accepted,
          h->scan_size());
      return true;
    }
    close_for_new_series("series " + std::to_string(h->series_id));
    start_series(*h);
    return true;
  }
  const auto& end = std::get<wire::End>(*msg);
  if (!assembler().active() || end.series_id != assembler().header().series_id) {
    count_stray_end(end.series_id);
    return true;
  }
  assembler().counts().frames_announced = end.frames_sent;
  end_series(SeriesEnd::kComplete);
  return true;
}

bool NativeZmqSource::resume_held() {
  if (early_.empty()) return false;
  if (assembler().active()) {
    if (early_.front().header.series_id > assembler().header().series_id) {
      // Held for a later series than the one that has started here since (the frame came before
      // this rank had started the current one): that one's share is complete; the frame waits.
      close_for_new_series("series " + std::to_string(early_.front().header.series_id));
      return true;
    }
    auto e = std::move(early_.front());
    early_.pop_front();
    handle_frame(e.header, e.more, &e);
    return true;
  }
  if (!early_frames_expired(early_since_)) return false;
  for (const auto& e : early_) {
    count_drop(DropReason::kNoSeries,
               "frame of series " + std::to_string(e.header.series_id) +
                   " held for a start that no rank received");
  }
  early_.clear();
  return true;
}

void NativeZmqSource::handle_frame(const wire::FrameHeader& f, bool more, const EarlyFrame* held) {
  if (has_peers() && !held && assembler().active() &&
      f.series_id > assembler().header().series_id) {
    // A frame of a later series: this rank's share of the current one is all here.
    close_for_new_series("series " + std::to_string(f.series_id));
  }
  if (!assembler().active() && !held && may_hold_early_frame(early_.size())) {
    // Its start went to another rank and is on its way: keep the frame (a copy) until it comes.
    if (early_.empty()) early_since_ = std::chrono::steady_clock::now();
    auto& e = early_.emplace_back();
    e.header = f;
    e.more = more;
    if (more) {
      zmq::message_t m;
      (void)socket_.recv(m, zmq::recv_flags::none);
      e.pixels.assign(m.data<std::byte>(), m.data<std::byte>() + m.size());
      e.extra = m.more();
      discard_rest();
    }
    return;
  }
  if (!assembler().active()) {
    count_drop(DropReason::kNoSeries,
               "frame of series " + std::to_string(f.series_id) +
                   " arrived outside any started series" + std::string(kNoSeriesHint));
    discard_rest();
    return;
  }
  auto& counts = assembler().counts();
  ++counts.frames_received;
  const auto& h = assembler().header();
  if (f.series_id != h.series_id) {
    count_drop(DropReason::kWrongSeries,
               "frame of series " + std::to_string(f.series_id) + " during series " +
                   std::to_string(h.series_id));
    discard_rest();
    return;
  }
  if (f.dtype != h.dtype) {
    count_drop(DropReason::kWrongDtype,
               "frame dtype " + std::string(dtype_name(f.dtype)) + ", series dtype " +
                   std::string(dtype_name(h.dtype)));
    discard_rest();
    return;
  }
  if (f.pixel_bytes != h.frame_bytes()) {
    count_drop(DropReason::kWrongSize,
               "frame header announces " + std::to_string(f.pixel_bytes) +
                   " bytes, series frames have " + std::to_string(h.frame_bytes()));
    discard_rest();
    return;
  }
  if (!more) {
    count_drop(DropReason::kMalformed, "frame message without its pixel part");
    return;
  }
  auto dst = assembler().reserve(f.frame_index);
  if (!dst) {
    discard_rest();
    return;
  }
  const std::size_t n = h.frame_bytes();
  std::size_t got = 0;
  bool extra = false;
  if (held) {
    got = held->pixels.size();
    extra = held->extra;
    if (got == n) std::memcpy(*dst, held->pixels.data(), n);
  } else {
    const auto r = socket_.recv(zmq::mutable_buffer(*dst, n), zmq::recv_flags::none);
    got = r ? r->untruncated_size : 0;
    extra = socket_.get(zmq::sockopt::rcvmore);
  }
  if (got != n) {
    count_drop(DropReason::kWrongSize,
               "pixel part of " + std::to_string(got) + " bytes, expected " + std::to_string(n));
    discard_rest();
    return;
  }
  if (extra) {
    count_drop(DropReason::kMalformed, "frame message with more than two parts");
    discard_rest();
    return;
  }
  assembler().commit(f.frame_index, n);
}

}  // namespace stemflow::ingest
