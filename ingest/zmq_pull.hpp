// SPDX-License-Identifier: GPL-3.0-or-later
// The receiving socket every ZeroMQ-based source opens the same way: a PULL socket connected to
// (or, with bind, bound to) each endpoint, fair-queueing between them.
#pragma once

#include <string>
#include <vector>
#include <zmq.hpp>

#include "pipeline/core/expected.hpp"

namespace stemflow::ingest {

//! Sets the receive high-water mark, no linger, and binds or connects every endpoint. Throws
//! ConfigError naming the endpoint that fails.
inline void open_pull(zmq::socket_t& socket,
                      const std::vector<std::string>& endpoints,
                      bool bind,
                      int receive_hwm) {
  if (endpoints.empty()) throw ConfigError("input: no endpoint given");
  socket.set(zmq::sockopt::rcvhwm, receive_hwm);
  socket.set(zmq::sockopt::linger, 0);
  for (const auto& ep : endpoints) {
    try {
      if (bind) {
        socket.bind(ep);
      } else {
        socket.connect(ep);
      }
    } catch (const zmq::error_t& e) {
      throw ConfigError("input endpoint '" + ep + "': cannot " + (bind ? "bind" : "connect") +
                        ": " + e.what());
    }
  }
}

//! "ep1, ep2" for logs and provenance.
inline std::string join_endpoints(const std::vector<std::string>& endpoints) {
  std::string s;
  for (const auto& ep : endpoints) s += (s.empty() ? "" : ", ") + ep;
  return s;
}

}  // namespace stemflow::ingest
