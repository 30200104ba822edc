// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/merlin/merlin_source.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace stemflow::ingest {

namespace {
// The largest message we accept: a 24-bit quad frame is 4 MiB; anything near this is not Merlin.
constexpr std::uint64_t kMaxPayload = std::uint64_t{256} << 20;
constexpr int kReceiveBuffer = 8 << 20;
}  // namespace

MerlinSource::MerlinSource(BatchPool& pool, MerlinOptions options)
    : Receiver(pool, timing_of(options)), options_(std::move(options)) {
  std::string ep = options_.endpoint;
  if (ep.rfind("tcp://", 0) == 0) ep = ep.substr(6);
  const auto colon = ep.rfind(':');
  try {
    if (colon == std::string::npos) throw std::invalid_argument(ep);
    host_ = ep.substr(0, colon);
    port_ = std::stoi(ep.substr(colon + 1));
    if (port_ <= 0 || port_ > 65535 || host_.empty()) throw std::invalid_argument(ep);
  } catch (const std::exception&) {
    throw ConfigError("input endpoint '" + options_.endpoint +
                      "': Merlin needs tcp://HOST:PORT (the data port, usually 6342)");
  }
  if (host_ == "*") host_ = "127.0.0.1";
  spdlog::info("Merlin receiver for {}", options_.endpoint);
}

MerlinSource::~MerlinSource() {
  if (fd_ >= 0) ::close(fd_);
}

bool MerlinSource::try_connect() {
  next_connect_ = std::chrono::steady_clock::now() + options_.reconnect_interval;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host_.c_str(), std::to_string(port_).c_str(), &hints, &res) != 0) return false;
  int fd = -1;
  for (addrinfo* a = res; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kReceiveBuffer, sizeof(kReceiveBuffer));
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(res);
  if (fd < 0) return false;
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  fd_ = fd;
  ++connections_;
  prefix_have_ = 0;
  payload_have_ = payload_need_ = 0;
  message_ready_ = false;
  spdlog::info("Merlin: connected to {}{}",
               options_.endpoint,
               assembler().active() ? " (series goes on if the detector continues it)" : "");
  return true;
}

void MerlinSource::disconnect(std::string_view why) {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  prefix_have_ = 0;
  payload_have_ = payload_need_ = 0;
  message_ready_ = false;
  if (assembler().active()) reconnected_ = true;
  spdlog::warn("Merlin: connection to {} lost ({}); reconnecting", options_.endpoint, why);
}

void MerlinSource::on_series_started() {
  // Nothing per scan position for a series the pool refused (its header may announce any size):
  // its frames are then counted, not told apart.
  seq_seen_.assign(assembler().rejected() ? 0 : assembler().header().scan_size(), 0);
  seq_distinct_ = 0;
  // A connection lost before this series says nothing about it (reconnected_ is read only while a
  // series is active, so clearing it here is the same as clearing it where the last one ended).
  reconnected_ = false;
  message_arrived();
}

bool MerlinSource::resume_held() {
  if (!held_frame_) return false;
  held_frame_ = false;
  handle_frame();
  return true;
}

bool MerlinSource::receive(std::chrono::milliseconds wait) {
  if (fd_ < 0 && std::chrono::steady_clock::now() >= next_connect_) try_connect();
  if (fd_ < 0) {
    std::this_thread::sleep_for(std::min(wait, options_.reconnect_interval));
    return false;
  }
  if (!read_message(wait)) return false;
  handle_message();
  return true;
}

bool MerlinSource::receive_queued() {
  // Only what the socket already holds: no reconnecting once stopped.
  if (fd_ < 0 || !read_message(std::chrono::milliseconds(0))) return false;
  handle_message();
  return true;
}

bool MerlinSource::read_message(std::chrono::milliseconds wait) {
  if (message_ready_) return true;
  if (wait.count() > 0) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
  }
  for (;;) {
    std::uint8_t* dst;
    std::size_t want;
    if (prefix_have_ < prefix_.size()) {
      dst = prefix_.data() + prefix_have_;
      want = prefix_.size() - prefix_have_;
    } else {
      dst = buf_.data() + payload_have_;
      want = payload_need_ - payload_have_;
    }
    const ssize_t got = want == 0 ? 0 : ::recv(fd_, dst, want, MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return false;
      disconnect(std::strerror(errno));
      return false;
    }
    if (got == 0 && want > 0) {
      disconnect("closed by the detector");
      return false;
    }
    if (prefix_have_ < prefix_.size()) {
      prefix_have_ += static_cast<std::size_t>(got);
      if (prefix_have_ < prefix_.size()) continue;
      auto n = merlin::parse_mpx_prefix(prefix_);
      if (!n || *n > kMaxPayload) {
        // Framing is lost: nothing after this point can be trusted on this connection.
        count_drop(DropReason::kMalformed,
                   n ? "message larger than any Merlin frame" : n.error().message);
        disconnect("framing lost");
        return false;
      }
      payload_need_ = static_cast<std::size_t>(*n);
      payload_have_ = 0;
      buf_.resize(payload_need_);
    } else {
      payload_have_ += static_cast<std::size_t>(got);
    }
    if (prefix_have_ == prefix_.size() && payload_have_ == payload_need_) {
      prefix_have_ = 0;
      message_ready_ = true;
      return true;
    }
  }
}

void MerlinSource::handle_message() {
  message_ready_ = false;
  message_arrived();
  const std::string_view head(reinterpret_cast<const char*>(buf_.data()),
                              std::min<std::size_t>(buf_.size(), 4));
  if (head == "HDR,") {
    handle_acquisition_header();
  } else if (head == "MQ1,") {
    handle_frame();
  } else {
    count_undecodable(DropReason::kUnknownMessage, "message that is neither HDR nor MQ1");
  }
}

void MerlinSource::handle_acquisition_header() {
  auto a = parse_guarded([&] { return merlin::parse_acquisition_header(buf_); });
  if (!a) {
    count_drop(DropReason::kMalformed, a.error().message);
    return;
  }
  if (assembler().active()) {
    if (reconnected_ && a->frames == assembler().header().scan_size()) {
      reconnected_ = false;
      spdlog::info("Merlin: the detector continues series {} after reconnecting",
                   assembler().header().series_id);
      return;
    }
    restart_series("a new acquisition");
  }
  acquisition_ = *a;
}

void MerlinSource::handle_frame() {
  auto h = parse_guarded([&] { return merlin::parse_frame_header(buf_); });
  if (!assembler().active()) {
    if (acquisition_ && h) {
      // The first frame tells the frame shape and pixel type: the series starts now.
      SeriesHeader s;
      s.series_id = ++series_counter_;
      s.frame_rows = h->height;
      s.frame_cols = h->width;
      s.dtype = h->dtype;
      s.detector = "Merlin";
      const auto n = acquisition_->frames;
      const auto& cfg = options_.scan_shape;
      if (acquisition_->scan_x && acquisition_->scan_y &&
          std::uint64_t{*acquisition_->scan_x} * *acquisition_->scan_y == n) {
        s.scan_rows = *acquisition_->scan_y;
        s.scan_cols = *acquisition_->scan_x;
      } else if (std::uint64_t{cfg[0]} * cfg[1] == n) {
        s.scan_rows = cfg[0];
        s.scan_cols = cfg[1];
      } else {
        s.scan_rows = 1;
        s.scan_cols = static_cast<std::uint32_t>(n);
      }
      for (const auto& [k, v] : acquisition_->fields) s.metadata["hdr." + k] = v;
      s.metadata["protocol"] = "merlin";
      s.metadata["pixel_type"] = h->pixel_type;
      s.metadata["counter_depth"] = std::to_string(h->counter_depth);
      s.metadata["layout"] = h->layout;
      acquisition_.reset();
      start_series(s);
      held_frame_ = true;
      return;
    }
    count_drop(h ? DropReason::kNoSeries : DropReason::kMalformed,
               h ? "frame before any acquisition header" : h.error().message);
    return;
  }
  auto& c = assembler().counts();
  ++c.frames_received;
  if (!h) {
    count_drop(h.error().reason == DropReason::kWrongDtype ? DropReason::kWrongDtype
                                                           : DropReason::kMalformed,
               h.error().message);
    return;
  }
  const auto& s = assembler().header();
  if (h->sequence == 0 || h->sequence > s.scan_size()) {
    count_drop(DropReason::kIndexOutOfRange,
               "frame sequence number " + std::to_string(h->sequence) +
                   " outside the acquisition's " + std::to_string(s.scan_size()) + " frames");
    return;
  }
  const std::uint64_t index = h->sequence - 1;
  if (seq_seen_.empty()) {
    ++seq_distinct_;  // a refused series
  } else if (!seq_seen_[index]) {
    seq_seen_[index] = 1;
    ++seq_distinct_;
  }
  if (h->dtype != s.dtype) {
    count_drop(DropReason::kWrongDtype, "frame pixel type " + h->pixel_type);
  } else if (h->width != s.frame_cols || h->height != s.frame_rows) {
    count_drop(DropReason::kWrongSize, "frame of another shape than the series'");
  } else if (buf_.size() < h->data_offset || buf_.size() - h->data_offset != h->pixel_bytes) {
    count_drop(DropReason::kWrongSize,
               "frame " + std::to_string(h->sequence) + " with " +
                   std::to_string(buf_.size() - std::min(buf_.size(), h->data_offset)) +
                   " pixel bytes, expected " + std::to_string(h->pixel_bytes));
  } else if (auto dst = assembler().reserve(index)) {
    auto r = merlin::decode_pixels(*h,
                                   {buf_.data() + h->data_offset, h->pixel_bytes},
                                   {reinterpret_cast<std::uint8_t*>(*dst), s.frame_bytes()});
    if (r) {
      assembler().commit(index, s.frame_bytes());
    } else {
      count_drop(DropReason::kDecodeError, r.error().message);
    }
  }
  if (seq_distinct_ == s.scan_size()) end_series(SeriesEnd::kComplete);
}

}  // namespace stemflow::ingest
