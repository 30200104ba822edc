// SPDX-License-Identifier: GPL-3.0-or-later
// The project's one alias for expected<T, E> (C++20 has no std::expected; switching to it later is
// a change here only). Per-frame code returns Expected; exceptions are for start-up only.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <tl/expected.hpp>
#include <utility>

#include "pipeline/core/series.hpp"

namespace stemflow {

//! An error with a short stable code (used as a metric label / drop reason) and a human message.
struct Error {
  std::string code;
  std::string message;
  //! Set when the error drops a received frame or message (code is then its name): receivers
  //! count the drop by this value, never by reading the code back.
  std::optional<DropReason> reason;
};

template <class T, class E = Error>
using Expected = tl::expected<T, E>;

inline tl::unexpected<Error> make_error(std::string code, std::string message) {
  return tl::unexpected<Error>(Error{std::move(code), std::move(message), std::nullopt});
}

//! An error that drops what it is about, for `reason`.
inline Error drop_error(DropReason reason, std::string message) {
  return Error{std::string(drop_reason_name(reason)), std::move(message), reason};
}

inline tl::unexpected<Error> make_drop(DropReason reason, std::string message) {
  return tl::unexpected<Error>(drop_error(reason, std::move(message)));
}

//! Thrown at start-up (configuration, graph construction) only; main prints it and exits non-zero.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace stemflow
