// SPDX-License-Identifier: GPL-3.0-or-later
#include "sim/native_sender.hpp"

#include "pipeline/core/expected.hpp"

namespace stemflow::sim {

NativeSender::NativeSender(const SenderOptions& o)
    : context_(1), socket_(context_, zmq::socket_type::push) {
  socket_.set(zmq::sockopt::sndhwm, o.send_hwm);
  socket_.set(zmq::sockopt::linger, static_cast<int>(o.linger.count()));
  try {
    if (o.bind) {
      socket_.bind(o.endpoint);
    } else {
      socket_.connect(o.endpoint);
    }
  } catch (const zmq::error_t& e) {
    throw ConfigError("cannot " + std::string(o.bind ? "bind" : "connect") + " " + o.endpoint +
                      ": " + e.what());
  }
}

NativeSender::~NativeSender() = default;

void NativeSender::start(const SeriesHeader& header, std::uint64_t frames_already_sent) {
  header_ = header;
  frames_sent_ = frames_already_sent;
  ingest::wire::encode_start(header, buffer_);
  socket_.send(zmq::buffer(buffer_), zmq::send_flags::none);
}

void NativeSender::frame(std::uint64_t index, std::span<const std::byte> pixels, bool persistent) {
  ingest::wire::encode_frame({header_.series_id, index, header_.dtype, pixels.size()}, buffer_);
  socket_.send(zmq::buffer(buffer_), zmq::send_flags::sndmore);
  if (persistent) {
    // The frame outlives the socket: no copy, nothing to free.
    zmq::message_t msg(
        const_cast<std::byte*>(pixels.data()), pixels.size(), [](void*, void*) {}, nullptr);
    socket_.send(msg, zmq::send_flags::none);
  } else {
    socket_.send(zmq::const_buffer(pixels.data(), pixels.size()), zmq::send_flags::none);
  }
  ++frames_sent_;
}

void NativeSender::end() {
  ingest::wire::encode_end({header_.series_id, frames_sent_}, buffer_);
  socket_.send(zmq::buffer(buffer_), zmq::send_flags::none);
}

void NativeSender::send_parts(const std::vector<std::vector<std::uint8_t>>& parts) {
  for (std::size_t i = 0; i < parts.size(); ++i) {
    socket_.send(zmq::buffer(parts[i]),
                 i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

}  // namespace stemflow::sim
