// SPDX-License-Identifier: GPL-3.0-or-later
// Test support for the dashboard and Prometheus tests: a blocking HTTP/1.1 GET and a server-sent
// events reader over a loopback socket, with timeouts (no HTTP library needed).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace stemflow::test {

struct HttpResponse {
  int status = 0;
  std::string headers;
  std::string body;
};

class HttpConnection {
 public:
  //! Connects to 127.0.0.1:port and sends "GET target" with `extra_headers` ("Name: value\r\n"...).
  HttpConnection(int port, const std::string& target, const std::string& extra_headers = "") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    const std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers +
                            "Connection: close\r\n\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~HttpConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool ok() const { return fd_ >= 0; }
  bool closed() const { return eof_; }

  //! Reads what arrives within `timeout` into buffer(); false on timeout or when the peer closed.
  bool read_some(std::chrono::milliseconds timeout) {
    if (fd_ < 0 || eof_) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  std::string& buffer() { return buf_; }

  //! Reads the status line and headers (they stay out of buffer()); -1 if none came in time.
  int read_head(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (buf_.find("\r\n\r\n") == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(left)) {
        if (buf_.find("\r\n\r\n") == std::string::npos) return -1;
      }
    }
    const auto at = buf_.find("\r\n\r\n");
    head_ = buf_.substr(0, at);
    buf_.erase(0, at + 4);
    if (head_.size() < 12) return -1;
    return std::atoi(head_.c_str() + 9);
  }
  const std::string& head() const { return head_; }

 private:
  int fd_ = -1;
  bool eof_ = false;
  std::string buf_;
  std::string head_;
};

//! GET and read to the end (the server closes: Connection: close).
inline std::optional<HttpResponse> http_get(
    int port,
    const std::string& target,
    std::chrono::milliseconds timeout = std::chrono::seconds(10),
    const std::string& extra_headers = "") {
  HttpConnection c(port, target, extra_headers);
  if (!c.ok()) return std::nullopt;
  HttpResponse r;
  r.status = c.read_head(timeout);
  if (r.status < 0) return std::nullopt;
  r.headers = c.head();
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!c.closed() && std::chrono::steady_clock::now() < end)
    c.read_some(std::chrono::milliseconds(200));
  r.body = std::move(c.buffer());
  return r;
}

struct SseEvent {
  std::string id;
  std::string type = "message";
  std::string data;
};

//! A server-sent events stream: GET, then next() event by event.
class SseClient {
 public:
  SseClient(int port, const std::string& target, const std::string& extra_headers = "")
      : c_(port, target, extra_headers) {}
  //! The HTTP status of the response (read on first use).
  int status(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    if (status_ == 0) status_ = c_.ok() ? c_.read_head(timeout) : -1;
    return status_;
  }
  //! The next event (comments and the retry field skipped); nullopt on timeout or close.
  std::optional<SseEvent> next(std::chrono::milliseconds timeout) {
    if (status() != 200) return std::nullopt;
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto& b = c_.buffer();
      for (auto at = b.find("\n\n"); at != std::string::npos; at = b.find("\n\n")) {
        const std::string block = b.substr(0, at);
        b.erase(0, at + 2);
        SseEvent e;
        bool any = false;
        std::size_t from = 0;
        while (from <= block.size()) {
          auto nl = block.find('\n', from);
          if (nl == std::string::npos) nl = block.size();
          const std::string line = block.substr(from, nl - from);
          from = nl + 1;
          if (line.rfind("id: ", 0) == 0)
            e.id = line.substr(4), any = true;
          else if (line.rfind("event: ", 0) == 0)
            e.type = line.substr(7), any = true;
          else if (line.rfind("data: ", 0) == 0)
            e.data += line.substr(6), any = true;
        }
        if (any && !e.data.empty()) return e;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      if (!c_.read_some(left) && (c_.closed() || std::chrono::steady_clock::now() >= end)) {
        if (c_.closed() && c_.buffer().find("\n\n") != std::string::npos) continue;
        return std::nullopt;
      }
    }
  }
  bool closed() const { return c_.closed(); }

 private:
  HttpConnection c_;
  int status_ = 0;
};

//! Percent-encodes a query value.
inline std::string url_encode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    }
  }
  return out;
}

}  // namespace stemflow::test
