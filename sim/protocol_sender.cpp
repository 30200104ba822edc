// SPDX-License-Identifier: GPL-3.0-or-later
#include "sim/protocol_sender.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <zmq.hpp>

#include "ingest/codecs/md5.hpp"
#include "ingest/dectris/stream1.hpp"
#include "ingest/dectris/stream2.hpp"
#include "ingest/merlin/mpx.hpp"
#include "pipeline/core/expected.hpp"
#include "sim/native_sender.hpp"

namespace stemflow::sim {

namespace {

using ingest::codecs::Codec;

// ---- native -------------------------------------------------------------------------------------

class NativeProtocolSender final : public ProtocolSender {
 public:
  explicit NativeProtocolSender(const ProtocolOptions& o) : options_(o) { open(); }
  void prepare(const SeriesHeader& h) override { header_ = h; }
  void start(const SeriesHeader& h) override {
    prepare(h);
    sender_->start(h);
  }
  void encode(std::span<const std::byte> px, std::vector<std::uint8_t>& out) override {
    out.assign(reinterpret_cast<const std::uint8_t*>(px.data()),
               reinterpret_cast<const std::uint8_t*>(px.data()) + px.size());
  }
  void send_encoded(std::uint64_t index, std::span<const std::uint8_t> e) override {
    if (e.size() == header_.frame_bytes()) {
      sender_->frame(index, std::as_bytes(e));
      return;
    }
    // A damaged frame: the header announces the series' frame size, the pixel part is shorter.
    std::vector<std::uint8_t> head;
    ingest::wire::encode_frame({header_.series_id, index, header_.dtype, header_.frame_bytes()},
                               head);
    sender_->send_parts({head, std::vector<std::uint8_t>(e.begin(), e.end())});
  }
  void end() override { sender_->end(); }
  std::string reconnect() override {
    const std::uint64_t sent = sender_->frames_sent();
    sender_.reset();  // linger delivers what is queued
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    open();
    // A new connection knows no series: without the start its frames would belong to none. The
    // end message still counts every frame of the series, before the reconnect too.
    sender_->start(header_, sent);
    return "series start";
  }

 private:
  void open() {
    SenderOptions so;
    so.endpoint = options_.endpoints.at(0);
    so.bind = options_.bind;
    so.send_hwm = options_.send_hwm;
    so.linger = options_.linger;
    sender_ = std::make_unique<NativeSender>(so);
  }
  ProtocolOptions options_;
  SeriesHeader header_;
  std::unique_ptr<NativeSender> sender_;
};

// ---- DECTRIS stream V1 / V2
// ----------------------------------------------------------------------

class DectrisSender final : public ProtocolSender {
 public:
  DectrisSender(const ProtocolOptions& o, int version)
      : options_(o), version_(version), context_(1) {
    if (version_ == 1 && options_.codec == Codec::kLz4Hdf5) options_.codec = Codec::kLz4Block;
    if (version_ == 2 && options_.codec == Codec::kLz4Block) options_.codec = Codec::kLz4Hdf5;
    if (options_.channels.empty()) options_.channels = {"threshold_1"};
    open();
  }
  ~DectrisSender() override { close(); }

  void prepare(const SeriesHeader& h) override { header_ = h; }
  void start(const SeriesHeader& h) override {
    prepare(h);
    unique_id_ = "stemflow-sim-" + std::to_string(h.series_id) + "-" +
                 std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
    for (auto& s : sockets_) send_start(s);
  }
  void encode(std::span<const std::byte> px, std::vector<std::uint8_t>& out) override {
    ingest::codecs::compress(options_.codec,
                             dtype_size(header_.dtype),
                             {reinterpret_cast<const std::uint8_t*>(px.data()), px.size()},
                             out);
  }
  void send_encoded(std::uint64_t index, std::span<const std::uint8_t> e) override {
    send_image(index, e, e);
  }
  void send_damaged(std::uint64_t index,
                    std::span<const std::uint8_t> e,
                    std::span<const std::uint8_t> damaged) override {
    send_image(index, damaged, e);
  }
  void end() override {
    for (auto& s : sockets_) {
      if (version_ == 2) {
        ingest::stream2::encode_end({header_.series_id, unique_id_}, msg_);
        s.send(zmq::buffer(msg_), zmq::send_flags::none);
      } else {
        s.send(zmq::buffer(ingest::stream1::encode_end(header_.series_id)), zmq::send_flags::none);
      }
    }
  }
  std::string reconnect() override {
    close();
    // ZeroMQ gives a bound port back in its I/O thread, some time after the socket closes: a
    // fixed pause was too short on a loaded machine (under TSan the bind failed, EADDRINUSE).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      try {
        open();
        break;
      } catch (const ConfigError&) {
        close();
        if (std::chrono::steady_clock::now() > deadline) throw;
      }
    }
    // The same series_unique_id: the receiver takes it as the series going on, not a new one.
    for (auto& s : sockets_) send_start(s);
    return "start message";
  }

 private:
  //! Sends `e`; a V1 message's hash is the md5 of `hashed` (`e` unless damaged in transit).
  void send_image(std::uint64_t index,
                  std::span<const std::uint8_t> e,
                  std::span<const std::uint8_t> hashed) {
    zmq::socket_t& s = sockets_[next_socket_++ % sockets_.size()];
    if (version_ == 2) {
      std::vector<ingest::stream2::ChannelData> ch;
      ch.push_back({options_.channels[0], options_.codec, e});
      if (options_.channels.size() > 1) {
        // The other channels: the same frame + 1 in every pixel (decoded, changed, re-encoded).
        other_.resize(header_.frame_bytes());
        auto dec = ingest::codecs::decompress(options_.codec, dtype_size(header_.dtype), e, other_);
        if (dec) {
          visit_dtype(header_.dtype, [&]<class T>() {
            auto* p = reinterpret_cast<T*>(other_.data());
            for (std::size_t i = 0; i < header_.frame_pixels(); ++i)
              p[i] = static_cast<T>(p[i] + 1);
          });
          ingest::codecs::compress(options_.codec, dtype_size(header_.dtype), other_, other_enc_);
          for (std::size_t c = 1; c < options_.channels.size(); ++c) {
            ch.push_back({options_.channels[c], options_.codec, other_enc_});
          }
        }
      }
      ingest::stream2::encode_image(header_.series_id,
                                    unique_id_,
                                    index,
                                    header_.frame_rows,
                                    header_.frame_cols,
                                    header_.dtype,
                                    ch,
                                    msg_);
      s.send(zmq::buffer(msg_), zmq::send_flags::none);
      return;
    }
    const std::string hash =
        options_.hash ? ingest::codecs::md5_hex(ingest::codecs::md5(hashed)) : "";
    const auto p = ingest::stream1::encode_image(header_.series_id,
                                                 index,
                                                 header_.frame_rows,
                                                 header_.frame_cols,
                                                 header_.dtype,
                                                 options_.codec,
                                                 e.size(),
                                                 hash);
    s.send(zmq::buffer(p.part1), zmq::send_flags::sndmore);
    s.send(zmq::buffer(p.part2), zmq::send_flags::sndmore);
    s.send(zmq::const_buffer(e.data(), e.size()), zmq::send_flags::sndmore);
    s.send(zmq::buffer(p.part4), zmq::send_flags::none);
  }
  void open() {
    for (const auto& ep : options_.endpoints) {
      zmq::socket_t s(context_, zmq::socket_type::push);
      s.set(zmq::sockopt::sndhwm, options_.send_hwm);
      s.set(zmq::sockopt::linger, static_cast<int>(options_.linger.count()));
      try {
        if (options_.bind) {
          s.bind(ep);
        } else {
          s.connect(ep);
        }
      } catch (const zmq::error_t& e) {
        throw ConfigError("cannot " + std::string(options_.bind ? "bind " : "connect ") + ep +
                          ": " + e.what());
      }
      sockets_.push_back(std::move(s));
    }
  }
  void close() { sockets_.clear(); }
  void send_start(zmq::socket_t& s) {
    if (version_ == 2) {
      ingest::stream2::Start st;
      st.series_id = header_.series_id;
      st.series_unique_id = unique_id_;
      st.channels = options_.channels;
      st.dtype = header_.dtype;
      st.image_size_x = header_.frame_cols;
      st.image_size_y = header_.frame_rows;
      st.number_of_images = header_.scan_size();
      st.detector_description = "stemflow-sim (" + header_.detector + ")";
      st.scan_shape = std::array<std::uint32_t, 2>{header_.scan_rows, header_.scan_cols};
      st.metadata["compression"] = std::string(ingest::codecs::codec_name(options_.codec));
      ingest::stream2::encode_start(st, msg_);
      s.send(zmq::buffer(msg_), zmq::send_flags::none);
      return;
    }
    ingest::stream1::Header h;
    h.series = header_.series_id;
    h.x_pixels = header_.frame_cols;
    h.y_pixels = header_.frame_rows;
    h.dtype = header_.dtype;
    h.frames = header_.scan_size();
    h.description = "stemflow-sim (" + header_.detector + ")";
    h.compression = options_.codec == Codec::kBslz4  ? "bslz4"
                    : options_.codec == Codec::kNone ? "none"
                                                     : "lz4";
    h.scan_shape = std::array<std::uint32_t, 2>{header_.scan_rows, header_.scan_cols};
    const auto parts = ingest::stream1::encode_header(h);
    s.send(zmq::buffer(parts[0]), zmq::send_flags::sndmore);
    s.send(zmq::buffer(parts[1]), zmq::send_flags::none);
  }

  ProtocolOptions options_;
  int version_;
  zmq::context_t context_;
  std::vector<zmq::socket_t> sockets_;
  std::size_t next_socket_ = 0;
  SeriesHeader header_;
  std::string unique_id_;
  std::vector<std::uint8_t> msg_, other_, other_enc_;
};

// ---- Merlin
// ---------------------------------------------------------------------------------------

class MerlinSender final : public ProtocolSender {
 public:
  explicit MerlinSender(const ProtocolOptions& o) : options_(o) {
    std::string ep = options_.endpoints.at(0);
    if (ep.rfind("tcp://", 0) == 0) ep = ep.substr(6);
    const auto colon = ep.rfind(':');
    if (colon == std::string::npos) throw ConfigError("merlin endpoint must be tcp://HOST:PORT");
    std::string host = ep.substr(0, colon);
    if (host == "*") host = "0.0.0.0";
    const std::string port = ep.substr(colon + 1);
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* res = nullptr;
    if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
      throw ConfigError("merlin endpoint " + options_.endpoints[0] + ": cannot resolve");
    }
    listen_fd_ = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    const bool ok = listen_fd_ >= 0 && ::bind(listen_fd_, res->ai_addr, res->ai_addrlen) == 0 &&
                    ::listen(listen_fd_, 4) == 0;
    ::freeaddrinfo(res);
    if (!ok)
      throw ConfigError("merlin endpoint " + options_.endpoints[0] +
                        ": cannot listen: " + std::strerror(errno));
  }
  ~MerlinSender() override {
    if (fd_ >= 0) ::close(fd_);
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }
  void prepare(const SeriesHeader& h) override {
    if (h.dtype == Dtype::kF32)
      throw ConfigError("merlin frames are integer counts (u8, u16, u32)");
    header_ = h;
    if (options_.merlin_raw_depth == 0) {
      // Counts: the frame as it is, big-endian, its depth the dtype's.
      depth_ = h.dtype == Dtype::kU8 ? 6 : h.dtype == Dtype::kU16 ? 12 : 24;
      layout_ = "1x1";
      encoded_bytes_ = h.frame_bytes();
    } else {
      depth_ = options_.merlin_raw_depth;
      layout_ = raw_layout(h);
      const std::string text = frame_header_text(1);
      const auto raw = ingest::merlin::parse_frame_header(
          {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
      if (!raw) {
        throw ConfigError("merlin raw " + layout_ + " frames of " + std::to_string(h.frame_rows) +
                          "x" + std::to_string(h.frame_cols) + ": " + raw.error().message);
      }
      raw_ = *raw;
      encoded_bytes_ = raw_.pixel_bytes;
    }
    head_ = frame_header_text(1);
    prefix_ = ingest::merlin::mpx_prefix(head_.size() + encoded_bytes_);
  }
  void start(const SeriesHeader& h) override {
    prepare(h);
    if (options_.merlin_raw_depth != 0 && !logged_) {
      logged_ = true;
      spdlog::info("merlin: raw R64 {}-bit {} frames of {} bytes, decoded to {}x{} {}",
                   depth_,
                   layout_,
                   encoded_bytes_,
                   raw_.height,
                   raw_.width,
                   dtype_name(raw_.dtype));
    }
    if (fd_ < 0) accept_client();
    send_header();
  }
  void encode(std::span<const std::byte> px, std::vector<std::uint8_t>& out) override {
    const std::span<const std::uint8_t> in(reinterpret_cast<const std::uint8_t*>(px.data()),
                                           px.size());
    out.resize(encoded_bytes_);
    if (options_.merlin_raw_depth == 0) {
      ingest::merlin::encode_pixels(header_.dtype, in, out);
      return;
    }
    const std::uint64_t clamped = ingest::merlin::encode_raw_frame(raw_, header_.dtype, in, out);
    if (clamped > 0) clamped_.fetch_add(clamped, std::memory_order_relaxed);
  }
  std::uint64_t take_clamped() override { return clamped_.exchange(0); }
  void send_encoded(std::uint64_t index, std::span<const std::uint8_t> e) override {
    // The series' header renumbered in place; made anew past its field's 6 digits.
    const std::string* head = &head_;
    if (!ingest::merlin::set_frame_sequence(head_, index + 1)) {
      long_head_ = frame_header_text(index + 1);
      head = &long_head_;
    }
    // A damaged (shortened) frame announces its own length.
    const std::string* prefix = &prefix_;
    if (e.size() != encoded_bytes_ || head->size() != head_.size()) {
      other_prefix_ = ingest::merlin::mpx_prefix(head->size() + e.size());
      prefix = &other_prefix_;
    }
    send_parts({iovec{const_cast<char*>(prefix->data()), prefix->size()},
                iovec{const_cast<char*>(head->data()), head->size()},
                iovec{const_cast<std::uint8_t*>(e.data()), e.size()}});
  }
  void end() override {}  // Merlin sends no end message
  std::string reconnect() override {
    ::shutdown(fd_, SHUT_WR);
    ::close(fd_);
    fd_ = -1;
    accept_client();
    send_header();
    return "acquisition header";
  }

 private:
  //! The layout --merlin-layout names for frames of `h`'s shape; throws ConfigError on a mismatch.
  std::string raw_layout(const SeriesHeader& h) const {
    const std::string& l = options_.merlin_layout;
    if (l != "auto" && l != "1x1" && l != "2x2" && l != "2x2G") {
      throw ConfigError("merlin layout must be auto, 1x1, 2x2 or 2x2G, not '" + l + "'");
    }
    const std::uint32_t quad = 2 * ingest::merlin::kChipPixels;
    const std::uint32_t quad_gap = quad + ingest::merlin::kGapPixels;
    const bool is_quad = h.frame_rows == quad && h.frame_cols == quad;
    const bool is_quad_gap = h.frame_rows == quad_gap && h.frame_cols == quad_gap;
    const std::string shape = std::to_string(h.frame_rows) + "x" + std::to_string(h.frame_cols);
    if (l == "2x2" || (l == "auto" && is_quad)) {
      if (!is_quad) {
        throw ConfigError("merlin raw 2x2 frames are 512x512 (four chips), not " + shape);
      }
      return "2x2";
    }
    if (l == "2x2G" || (l == "auto" && is_quad_gap)) {
      if (!is_quad_gap) {
        throw ConfigError("merlin raw 2x2G frames are 514x514 (four chips and the gaps), not " +
                          shape);
      }
      return "2x2G";
    }
    if (std::size_t{h.frame_rows} * h.frame_cols % 64 != 0) {
      throw ConfigError("merlin raw 1x1 frames need a multiple of 64 pixels, not " + shape);
    }
    return "1x1";
  }
  std::string frame_header_text(std::uint64_t sequence) const {
    if (options_.merlin_raw_depth == 0) {
      return ingest::merlin::encode_frame_header(
          sequence, header_.frame_cols, header_.frame_rows, header_.dtype, depth_);
    }
    return ingest::merlin::encode_raw_frame_header(
        sequence, layout_, depth_, header_.frame_rows, header_.frame_cols);
  }
  void accept_client() {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(options_.accept_timeout.count())) <= 0) {
      throw std::runtime_error("merlin: no receiver connected within the accept timeout");
    }
    fd_ = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd_ < 0)
      throw std::runtime_error(std::string("merlin: accept failed: ") + std::strerror(errno));
    const int buf = 8 << 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
  }
  void send_header() {
    const std::string hdr = ingest::merlin::encode_acquisition_header(
        header_.scan_size(), depth_, header_.scan_cols, header_.scan_rows, layout_);
    const std::string prefix = ingest::merlin::mpx_prefix(hdr.size());
    send_all(prefix.data(), prefix.size());
    send_all(hdr.data(), hdr.size());
  }
  //! Sends the parts as one message (one system call unless the socket buffer fills).
  void send_parts(std::array<iovec, 3> parts) {
    std::size_t first = 0;
    while (first < parts.size()) {
      msghdr m{};
      m.msg_iov = parts.data() + first;
      m.msg_iovlen = parts.size() - first;
      const ssize_t k = ::sendmsg(fd_, &m, MSG_NOSIGNAL);
      if (k < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error(std::string("merlin: send failed: ") + std::strerror(errno));
      }
      auto left = static_cast<std::size_t>(k);
      while (first < parts.size() && left >= parts[first].iov_len) {
        left -= parts[first].iov_len;
        ++first;
      }
      if (first < parts.size()) {
        parts[first].iov_base = static_cast<char*>(parts[first].iov_base) + left;
        parts[first].iov_len -= left;
      }
    }
  }
  void send_all(const void* data, std::size_t n) {
    const auto* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t k = ::send(fd_, p, n, MSG_NOSIGNAL);
      if (k < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error(std::string("merlin: send failed: ") + std::strerror(errno));
      }
      p += k;
      n -= static_cast<std::size_t>(k);
    }
  }

  ProtocolOptions options_;
  int listen_fd_ = -1;
  int fd_ = -1;
  SeriesHeader header_;
  std::uint32_t depth_ = 12;           // counter depth sent
  std::string layout_ = "1x1";         // chip layout sent
  ingest::merlin::FrameHeader raw_;    // raw frames: what the receiver will parse
  std::size_t encoded_bytes_ = 0;      // pixel bytes per frame on the wire
  std::string head_, long_head_;       // MQ1 header of the series, renumbered per frame
  std::string prefix_, other_prefix_;  // MPX prefix of a whole frame, of another size
  std::atomic<std::uint64_t> clamped_{0};
  bool logged_ = false;  // the raw format, once
};

}  // namespace

std::unique_ptr<ProtocolSender> make_protocol_sender(const ProtocolOptions& o) {
  if (o.endpoints.empty()) throw ConfigError("no endpoint to send to");
  if (o.merlin_raw_depth != 0) {
    if (o.protocol != "merlin") throw ConfigError("raw (R64) frames are a merlin pixel format");
    const auto d = o.merlin_raw_depth;
    if (d != 1 && d != 6 && d != 12 && d != 24) {
      throw ConfigError("merlin raw counter depth must be 1, 6, 12 or 24, not " +
                        std::to_string(d));
    }
  }
  if (o.protocol == "native") return std::make_unique<NativeProtocolSender>(o);
  if (o.protocol == "dectris-stream2") return std::make_unique<DectrisSender>(o, 2);
  if (o.protocol == "dectris-stream1") return std::make_unique<DectrisSender>(o, 1);
  if (o.protocol == "merlin") return std::make_unique<MerlinSender>(o);
  throw ConfigError("--protocol must be native, dectris-stream2, dectris-stream1 or merlin, not '" +
                    o.protocol + "'");
}

}  // namespace stemflow::sim
