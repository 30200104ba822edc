// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: the TOML configuration (config/config.hpp `Config::parse`: toml++ parsing, then
// validation against the schema). Bad text must give a ConfigError listing the problems; any other
// exception, a crash or a hang is a bug. A valid configuration is then read back: its effective
// TOML and where each operator's keys come from. The operator types are the registry's.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.hpp"
#include "pipeline/core/expected.hpp"

using namespace stemflow;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto c = config::Config::parse(text, "fuzz.toml");
    (void)c.effective_toml();
    for (const auto& op : c.operators()) (void)op.params.where();
  } catch (const ConfigError&) {
  }
  return 0;
}
