// SPDX-License-Identifier: GPL-3.0-or-later
#include "operators/bragg_disks/fftw_plan.hpp"

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

}  // namespace stemflow::ops::fft
