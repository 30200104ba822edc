// SPDX-License-Identifier: GPL-3.0-or-later
// Counting dropped frames by reason, with a log line per reason that is rate-limited: the first
// occurrence is logged at once, later ones at most every kInterval with the count since.
#pragma once

#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <string_view>

#include "pipeline/core/series.hpp"

namespace stemflow::ingest {

class DropLog {
 public:
  static constexpr std::chrono::seconds kInterval{5};

  //! Counts one drop into `counts` and logs it if this reason has not been logged recently.
  void record(SeriesCounts& counts, DropReason reason, std::string_view detail) {
    const auto r = static_cast<std::size_t>(reason);
    ++counts.dropped[r];
    ++since_log_[r];
    const auto now = std::chrono::steady_clock::now();
    if (last_log_[r] == std::chrono::steady_clock::time_point{} ||
        now - last_log_[r] >= kInterval) {
      spdlog::warn("dropped {} frame{} ({}): {}",
                   since_log_[r],
                   since_log_[r] > 1 ? "s" : "",
                   drop_reason_name(reason),
                   detail);
      last_log_[r] = now;
      since_log_[r] = 0;
    }
  }
  void reset() {
    last_log_ = {};
    since_log_ = {};
  }

 private:
  std::array<std::chrono::steady_clock::time_point, kDropReasonCount> last_log_{};
  std::array<std::uint64_t, kDropReasonCount> since_log_{};
};

}  // namespace stemflow::ingest
