// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzz support for the file readers: the input is written to a temporary file (one per process,
// under $TMPDIR or /tmp) that the reader then opens by name, as it opens a recorded scan.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace stemflow::fuzz {

//! Writes `data` to this process's temporary file with extension `ext` and returns its path.
inline const std::string& write_input(const std::uint8_t* data,
                                      std::size_t size,
                                      const std::string& ext) {
  static const std::string path = [&] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/stemflow-fuzz-" +
           std::to_string(::getpid()) + ext;
  }();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

}  // namespace stemflow::fuzz
