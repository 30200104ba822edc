// SPDX-License-Identifier: GPL-3.0-or-later
// The baseline for bench/ingest: a bare ZeroMQ PUSH -> PULL of the same two-part messages stemflow
// sends (a small header part, then the pixels), over the same transport, with the receiver placing
// each pixel part into a fixed buffer as the engine does. No decoding, no analysis.
//   zmq_bare push ENDPOINT FRAMES BYTES     (binds, sends zero-copy from one persistent buffer)
//   zmq_bare pull ENDPOINT FRAMES BYTES     (connects, prints frames/s and GB/s)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include <zmq.hpp>

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: zmq_bare push|pull ENDPOINT FRAMES BYTES\n");
    return 2;
  }
  const std::string mode = argv[1], endpoint = argv[2];
  const std::uint64_t frames = std::strtoull(argv[3], nullptr, 10);
  const std::size_t bytes = std::strtoull(argv[4], nullptr, 10);
  std::vector<std::byte> pixels(bytes, std::byte{1});
  std::vector<std::uint8_t> header(96, 7);  // about the size of a native frame header
  zmq::context_t ctx(1);
  if (mode == "push") {
    zmq::socket_t s(ctx, zmq::socket_type::push);
    s.set(zmq::sockopt::sndhwm, 256);
    s.set(zmq::sockopt::linger, 60000);
    s.bind(endpoint);
    for (std::uint64_t i = 0; i < frames; ++i) {
      s.send(zmq::buffer(header), zmq::send_flags::sndmore);
      zmq::message_t m(
          pixels.data(), pixels.size(), [](void*, void*) {}, nullptr);
      s.send(m, zmq::send_flags::none);
    }
    return 0;
  }
  zmq::socket_t s(ctx, zmq::socket_type::pull);
  s.set(zmq::sockopt::rcvhwm, 256);
  s.connect(endpoint);
  std::vector<std::uint8_t> hbuf(1 << 20);
  std::chrono::steady_clock::time_point t0;
  for (std::uint64_t i = 0; i < frames; ++i) {
    (void)s.recv(zmq::mutable_buffer(hbuf.data(), hbuf.size()), zmq::recv_flags::none);
    if (i == 0) t0 = std::chrono::steady_clock::now();
    (void)s.recv(zmq::mutable_buffer(pixels.data(), pixels.size()), zmq::recv_flags::none);
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "frames/s %.0f GB/s %.3f\n", (frames - 1) / sec, (frames - 1) * double(bytes) / sec / 1e9);
  return 0;
}
