// SPDX-License-Identifier: GPL-3.0-or-later
#include "operators/bragg_disks/fftw_plan.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <set>

namespace stemflow::ops::fft {

std::mutex& planner_mutex() {
  static std::mutex m;
  static std::once_flag once;
  // Other FFTW users in the process (which do not know our mutex) stay safe too.
  std::call_once(once, [] {
    fftwf_make_planner_thread_safe();
    fftw_make_planner_thread_safe();
  });
  return m;
}

// The float and double wisdom go to "<path>.f32" and "<path>.f64" (FFTW keeps them apart).
bool load_wisdom(const std::string& path) {
  std::lock_guard<std::mutex> lock(planner_mutex());
  const bool f = fftwf_import_wisdom_from_filename((path + ".f32").c_str()) != 0;
  const bool d = fftw_import_wisdom_from_filename((path + ".f64").c_str()) != 0;
  return f || d;
}

bool save_wisdom(const std::string& path) {
  std::lock_guard<std::mutex> lock(planner_mutex());
  const bool f = fftwf_export_wisdom_to_filename((path + ".f32").c_str()) != 0;
  const bool d = fftw_export_wisdom_to_filename((path + ".f64").c_str()) != 0;
  return f && d;
}

std::string wisdom_path(const std::string& key) {
  if (key.empty() || key == "none") return {};
  if (key != "auto") return key;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    return std::string(x) + "/stemflow/fftw-wisdom";
  }
  if (const char* h = std::getenv("HOME"); h && *h) {
    return std::string(h) + "/.cache/stemflow/fftw-wisdom";
  }
  return {};
}

void load_wisdom_once(const std::string& path) {
  static std::mutex m;
  static std::set<std::string> loaded;
  std::lock_guard<std::mutex> lock(m);
  if (path.empty() || !loaded.insert(path).second) return;
  if (load_wisdom(path)) {
    spdlog::info("FFTW wisdom loaded from {}.f32/.f64", path);
  } else {
    spdlog::info("no FFTW wisdom at {}.f32/.f64 yet: planning by measurement (saved after)", path);
  }
}

void store_wisdom(const std::string& path) {
  if (path.empty()) return;
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  bool ok = save_wisdom(tmp);
  for (const char* ext : {".f32", ".f64"}) {
    if (ok) fs::rename(tmp + ext, path + ext, ec);
    ok = ok && !ec;
    fs::remove(tmp + ext, ec);
  }
  if (!ok)
    spdlog::warn("could not save the FFTW wisdom to {}.f32/.f64 (next run plans again)", path);
}

}  // namespace stemflow::ops::fft
