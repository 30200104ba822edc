// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/dectris/dectris_stream_source.hpp"

#include <spdlog/spdlog.h>

#include "ingest/dectris/stream1.hpp"
#include "ingest/dectris/stream2.hpp"
#include "ingest/zmq_pull.hpp"

namespace stemflow::ingest {

namespace {
// V1 messages have 4 or 5 parts, a header with header_detail "all" 8 or 9; more is not a DECTRIS
// message.
constexpr std::size_t kMaxParts = 16;
}  // namespace

DectrisStreamSource::DectrisStreamSource(BatchPool& pool, DectrisStreamOptions options)
    : Receiver(pool, timing_of(options), options.peers),
      options_(std::move(options)),
      context_(std::max(options_.io_threads, 1)),
      socket_(context_, zmq::socket_type::pull),
      queue_(options_.read_ahead),
      parts_(kMaxParts) {
  if (options_.version != 1 && options_.version != 2)
    throw ConfigError("DECTRIS stream version 1 or 2");
  if (options_.verify_hash && options_.version != 1) {
    spdlog::warn("input.verify_hash: stream V2 messages carry no checksum; nothing is verified");
  }
  open_pull(socket_, options_.endpoints, options_.bind, options_.receive_hwm);
  spdlog::info("DECTRIS stream V{} receiver {} {}",
               options_.version,
               options_.bind ? "bound to" : "connected to",
               describe());
}

std::string DectrisStreamSource::describe() const { return join_endpoints(options_.endpoints); }

void DectrisStreamSource::place() {
  queue_.assemble(assembler(), assembler().header().frame_bytes());
}

bool DectrisStreamSource::resume_held() {
  if (!held_ && !early_.empty()) {
    if (assembler().active()) {
      auto parts = std::move(early_.front());
      early_.pop_front();
      n_parts_ = parts.size();
      for (std::size_t i = 0; i < n_parts_; ++i) parts_[i] = std::move(parts[i]);
      process_message();
      return true;
    }
    if (early_frames_expired(early_since_)) {
      for (std::size_t i = 0; i < early_.size(); ++i) {
        count_drop(DropReason::kNoSeries, "image held for a start that no rank received");
      }
      early_.clear();
      return true;
    }
  }
  if (!held_) return false;
  // A start or end message waits until every frame received before it has its place.
  if (!queue_.empty()) {
    place();
    return true;
  }
  held_ = false;
  process_message();
  return true;
}

bool DectrisStreamSource::receive(std::chrono::milliseconds wait) {
  if (queue_.full()) {  // the read-ahead bound: place what waits before receiving more
    place();
    return true;
  }
  // Receive without waiting while frames are pending (they are decoded as soon as the socket has
  // nothing more), else wait up to `wait`.
  if (!receive_message(queue_.empty() ? wait : std::chrono::milliseconds(0))) return false;
  process_message();
  return true;
}

bool DectrisStreamSource::place_pending() {
  if (queue_.empty()) return false;
  place();
  return true;
}

bool DectrisStreamSource::receive_message(std::chrono::milliseconds wait) {
  if (wait.count() > 0) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, wait);
    if (!(item.revents & ZMQ_POLLIN)) return false;
  }
  if (!socket_.recv(parts_[0], zmq::recv_flags::dontwait)) return false;
  n_parts_ = 1;
  // The remaining parts of a multipart message are already here (ZeroMQ delivers it whole).
  while (parts_[n_parts_ - 1].more()) {
    if (n_parts_ == kMaxParts) {
      zmq::message_t skip;
      do {
        (void)socket_.recv(skip, zmq::recv_flags::none);
      } while (skip.more());
      n_parts_ = kMaxParts + 1;  // marks the message as too long
      break;
    }
    (void)socket_.recv(parts_[n_parts_], zmq::recv_flags::none);
    ++n_parts_;
  }
  message_arrived();
  return true;
}

Expected<DectrisStreamSource::Parsed> DectrisStreamSource::parse() {
  Parsed p;
  if (n_parts_ > kMaxParts) return make_drop(DropReason::kMalformed, "message with too many parts");
  if (options_.version == 2) {
    if (n_parts_ != 1) {
      return make_drop(DropReason::kMalformed, "stream V2 message with several parts");
    }
    auto m =
        stream2::decode({parts_[0].data<std::uint8_t>(), parts_[0].size()}, doc_, options_.channel);
    if (!m) return tl::unexpected(m.error());
    if (auto* s = std::get_if<stream2::Start>(&*m)) {
      p.kind = Parsed::Kind::kStart;
      p.series_id = s->series_id;
      p.unique_id = s->series_unique_id;
      p.header = make_header(s->series_id,
                             s->image_size_y,
                             s->image_size_x,
                             s->dtype,
                             s->number_of_images,
                             s->scan_shape);
      p.header.detector = s->detector_description.empty() ? "DECTRIS" : s->detector_description;
      p.header.metadata = s->metadata;
      p.header.metadata["protocol"] = "dectris-stream2";
      // Also for the other ranks of an MPI job, which learn the series from this header.
      if (!p.unique_id.empty()) p.header.metadata["series_unique_id"] = p.unique_id;
      if (!options_.channel.empty()) p.header.metadata["channel"] = options_.channel;
      if (options_.channel.empty() && !s->channels.empty()) {
        p.header.metadata["channel"] = s->channels.front();
      }
      return p;
    }
    if (auto* e = std::get_if<stream2::End>(&*m)) {
      p.kind = Parsed::Kind::kEnd;
      p.series_id = e->series_id;
      p.unique_id = e->series_unique_id;
      return p;
    }
    auto& im = std::get<stream2::Image>(*m);
    p.kind = Parsed::Kind::kImage;
    p.series_id = im.series_id;
    p.unique_id = im.series_unique_id;
    p.image_id = im.image_id;
    p.rows = im.rows;
    p.cols = im.cols;
    p.dtype = im.dtype;
    p.codec = im.codec;
    p.elem_size = im.elem_size;
    p.data = im.data;
    p.data_part = 0;
    return p;
  }
  std::array<std::span<const std::uint8_t>, kMaxParts> views;
  for (std::size_t i = 0; i < n_parts_; ++i)
    views[i] = {parts_[i].data<std::uint8_t>(), parts_[i].size()};
  auto m = stream1::decode({views.data(), n_parts_});
  if (!m) return tl::unexpected(m.error());
  if (auto* h = std::get_if<stream1::Header>(&*m)) {
    p.kind = Parsed::Kind::kStart;
    p.series_id = h->series;
    p.header = make_header(h->series, h->y_pixels, h->x_pixels, h->dtype, h->frames, h->scan_shape);
    p.header.detector = h->description.empty() ? "DECTRIS" : h->description;
    p.header.metadata = h->metadata;
    p.header.metadata["protocol"] = "dectris-stream1";
    return p;
  }
  if (auto* e = std::get_if<stream1::End>(&*m)) {
    p.kind = Parsed::Kind::kEnd;
    p.series_id = e->series;
    return p;
  }
  auto& im = std::get<stream1::Image>(*m);
  p.kind = Parsed::Kind::kImage;
  p.series_id = im.series;
  p.image_id = im.frame;
  p.rows = im.y;
  p.cols = im.x;
  p.dtype = im.dtype;
  p.codec = im.codec;
  p.elem_size = im.elem_size;
  p.data = im.data;
  p.data_part = 2;
  p.md5 = im.md5;
  p.md5_malformed = im.md5_malformed;
  return p;
}

SeriesHeader DectrisStreamSource::make_header(
    std::uint64_t series_id,
    std::uint32_t rows,
    std::uint32_t cols,
    Dtype dtype,
    std::uint64_t images,
    const std::optional<std::array<std::uint32_t, 2>>& stream_scan) const {
  SeriesHeader h;
  h.series_id = series_id;
  h.frame_rows = rows;
  h.frame_cols = cols;
  h.dtype = dtype;
  const auto fits = [&](const std::array<std::uint32_t, 2>& s) {
    return std::uint64_t{s[0]} * s[1] == images && images > 0;
  };
  if (stream_scan && fits(*stream_scan)) {
    h.scan_rows = (*stream_scan)[0];
    h.scan_cols = (*stream_scan)[1];
  } else if (fits(options_.scan_shape)) {
    h.scan_rows = options_.scan_shape[0];
    h.scan_cols = options_.scan_shape[1];
  } else {
    // The detector knows only the number of images; without a scan shape that fits, the scan is
    // one line.
    if (options_.scan_shape[0] != 0) {
      spdlog::warn("series {}: {} images do not fill scan.shape {}x{}; taking a 1x{} scan",
                   series_id,
                   images,
                   options_.scan_shape[0],
                   options_.scan_shape[1],
                   images);
    }
    h.scan_rows = 1;
    h.scan_cols = static_cast<std::uint32_t>(std::min<std::uint64_t>(images, 0xFFFFFFFFu));
  }
  return h;
}

void DectrisStreamSource::process_message() {
  auto p = parse_guarded([this] { return parse(); });
  if (!p) {
    count_undecodable(drop_reason_of(p.error()), p.error().message);
    return;
  }
  if (p->kind == Parsed::Kind::kImage) {
    handle_image(*p);
    return;
  }
  if (!queue_.empty()) {
    held_ = true;  // parse again once the frames before it are placed
    return;
  }
  if (p->kind == Parsed::Kind::kStart) {
    handle_start(*p);
  } else {
    handle_end(*p);
  }
}

void DectrisStreamSource::handle_start(Parsed& p) {
  const SeriesHeader& h = p.header;
  if (!usable_start(h)) return;
  if (assembler().active()) {
    if (assembler().header().series_id == h.series_id && unique_id_ == p.unique_id) {
      return;  // the same series' start from another endpoint
    }
    close_for_new_series("series " + std::to_string(h.series_id));
  }
  unique_id_ = p.unique_id;
  ends_seen_ = 0;
  start_series(h);
}

void DectrisStreamSource::on_series_started() {
  // A series another rank's receiver got starts here from its header alone.
  const auto& md = assembler().header().metadata;
  const auto u = md.find("series_unique_id");
  unique_id_ = u != md.end() ? u->second : std::string();
  ends_seen_ = 0;
}

void DectrisStreamSource::handle_end(const Parsed& p) {
  if (!assembler().active() || p.series_id != assembler().header().series_id ||
      (!p.unique_id.empty() && !unique_id_.empty() && p.unique_id != unique_id_)) {
    count_stray_end(p.series_id);
    return;
  }
  if (++ends_seen_ < options_.endpoints.size()) return;  // other endpoints still send
  end_series(SeriesEnd::kComplete);
}

void DectrisStreamSource::handle_image(Parsed& p) {
  if (has_peers() && assembler().active() && p.series_id > assembler().header().series_id) {
    // An image of a later series: this rank's share of the current one is all here, once the
    // frames before it are placed.
    if (!queue_.empty()) {
      held_ = true;
      return;
    }
    close_for_new_series("series " + std::to_string(p.series_id));
  }
  if (!assembler().active() && may_hold_early_frame(early_.size())) {
    // Its start went to another rank and is on its way: keep the message until it comes.
    if (early_.empty()) early_since_ = std::chrono::steady_clock::now();
    auto& parts = early_.emplace_back();
    for (std::size_t i = 0; i < n_parts_; ++i) parts.push_back(std::move(parts_[i]));
    return;
  }
  if (!assembler().active()) {
    count_drop(DropReason::kNoSeries,
               "image of series " + std::to_string(p.series_id) +
                   " arrived outside any started series" + std::string(kNoSeriesHint));
    return;
  }
  ++assembler().counts().frames_received;
  const auto& h = assembler().header();
  if (p.series_id != h.series_id ||
      (!p.unique_id.empty() && !unique_id_.empty() && p.unique_id != unique_id_)) {
    count_drop(DropReason::kWrongSeries,
               "image of series " + std::to_string(p.series_id) + " during series " +
                   std::to_string(h.series_id));
    return;
  }
  if (p.dtype != h.dtype) {
    count_drop(DropReason::kWrongDtype,
               "image dtype " + std::string(dtype_name(p.dtype)) + ", series dtype " +
                   std::string(dtype_name(h.dtype)));
    return;
  }
  if (p.rows != h.frame_rows || p.cols != h.frame_cols) {
    count_drop(DropReason::kWrongSize,
               "image of " + std::to_string(p.rows) + "x" + std::to_string(p.cols) +
                   ", series frames are " + std::to_string(h.frame_rows) + "x" +
                   std::to_string(h.frame_cols));
    return;
  }
  const std::uint64_t base = options_.version == 2 ? options_.image_id_base : 0;
  if (p.image_id < base || p.image_id - base >= h.scan_size()) {
    count_drop(DropReason::kIndexOutOfRange,
               "image id " + std::to_string(p.image_id) + " outside the series' " +
                   std::to_string(h.scan_size()) + " images");
    return;
  }
  // Cheap checks before the frame waits for decoding: the announced size must be the frame's.
  if (p.codec == codecs::Codec::kNone && p.data.size() != h.frame_bytes()) {
    count_drop(DropReason::kWrongSize,
               "uncompressed image of " + std::to_string(p.data.size()) + " bytes, expected " +
                   std::to_string(h.frame_bytes()));
    return;
  }
  if (p.codec == codecs::Codec::kBslz4 || p.codec == codecs::Codec::kLz4Hdf5) {
    auto fh = codecs::read_framed_header(p.data);
    if (!fh) {
      count_drop(DropReason::kDecodeError, fh.error().message);
      return;
    }
    if (fh->orig_size != h.frame_bytes()) {
      count_drop(DropReason::kWrongSize,
                 "compressed image of " + std::to_string(fh->orig_size) + " bytes, expected " +
                     std::to_string(h.frame_bytes()));
      return;
    }
  }
  if (options_.verify_hash && p.md5_malformed) {
    count_drop(DropReason::kMalformed, "image hash is not an md5 of 32 hex digits");
    return;
  }
  zmq::message_t& part = parts_[p.data_part];
  const std::size_t offset = static_cast<std::size_t>(p.data.data() - part.data<std::uint8_t>());
  auto& f = queue_.push();
  f.index = p.image_id - base;
  f.codec = p.codec;
  f.elem_size = p.elem_size;
  if (options_.verify_hash) f.md5 = p.md5;  // checked while decoding, off this thread
  f.message.move(part);
  // Small messages live inside the message object itself: take the address after the move.
  f.data = {f.message.data<std::uint8_t>() + offset, p.data.size()};
}

}  // namespace stemflow::ingest
