// SPDX-License-Identifier: GPL-3.0-or-later
// Shared pieces of the GPU tests: skipping without a device, synthetic scans in any dtype, running
// a CPU operator or the GPU BatchProcessor over frames held by the test, and comparing peak lists.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "operators/bragg_disks/bragg_disks.hpp"
#include "operators/bragg_disks/probe_template.hpp"
#include "operators/gpu/batch_processor.hpp"
#include "pipeline/core/batch.hpp"
#include "pipeline/core/operator.hpp"
#include "sim/synth.hpp"
#include "tests/support/test_data.hpp"

namespace stemflow::gputest {

//! Skips the test, saying so, where no CUDA device can be used (CI, this build machine).
#define STEMFLOW_REQUIRE_GPU()                                                    \
  do {                                                                            \
    std::string why_no_gpu_;                                                      \
    if (::stemflow::gpu::cuda_device_count(&why_no_gpu_) == 0) {                  \
      GTEST_SKIP() << "no CUDA device (" << why_no_gpu_ << "): GPU test skipped"; \
    }                                                                             \
  } while (0)

//! STEMFLOW_GPU_TEST_QUICK=1 (set by bench/gpu/run.sh under compute-sanitizer) shrinks the scans.
inline bool quick() {
  const char* q = std::getenv("STEMFLOW_GPU_TEST_QUICK");
  return q != nullptr && *q != '\0' && *q != '0';
}

using test::shared_dir;
using test::TestBatch;

//! meta.json of a reference dataset, as text: the GPU tests read the few numbers they need from it
//! without a JSON library.
inline std::string read_meta_text(const std::filesystem::path& dataset) {
  std::ifstream in(dataset / "meta.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

//! The dataset's 4D "shape" in meta.json: rx, ry, qx, qy.
inline std::array<std::uint32_t, 4> meta_shape(const std::string& meta) {
  std::array<std::uint32_t, 4> dims{};
  std::size_t pos = meta.find('[', meta.find("\"shape\"")) + 1;
  for (auto& d : dims) {
    d = static_cast<std::uint32_t>(std::stod(meta.substr(pos)));
    pos = meta.find_first_of(",]", pos) + 1;
  }
  return dims;
}

using PeakLists = std::vector<std::vector<Peak>>;

//! A synthetic scan (sim/synth.hpp: the reference generator) rendered into one buffer.
struct Scan {
  sim::SynthParams params;
  SeriesHeader header;
  std::vector<std::byte> frames;
  std::size_t count() const { return params.scan_size(); }
};

inline Scan render_scan(const sim::SynthParams& p) {
  Scan s;
  s.params = p;
  s.header.scan_rows = p.scan_rows;
  s.header.scan_cols = p.scan_cols;
  s.header.frame_rows = p.frame_rows;
  s.header.frame_cols = p.frame_cols;
  s.header.dtype = p.dtype;
  s.frames.resize(p.scan_size() * p.frame_bytes());
  const sim::SynthScan scan(p);
  const unsigned threads = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (std::uint64_t i = t; i < p.scan_size(); i += threads) {
        scan.render(i, {s.frames.data() + i * p.frame_bytes(), p.frame_bytes()});
      }
    });
  }
  for (auto& th : pool) th.join();
  return s;
}

//! The probe template as py4DSTEM builds it, from 8 vacuum frames of the same generator (frames
//! under 128 px have a disk too small for the default 3 openings: 1 there).
inline ops::ProbeKernel synthetic_template(const sim::SynthParams& scan_params) {
  sim::SynthParams v = scan_params;
  v.vacuum = true;
  v.scan_rows = 1;
  v.scan_cols = 8;
  v.dtype = Dtype::kF32;
  const Scan vac = render_scan(v);
  const auto mean =
      ops::average_frames(vac.frames.data(), Dtype::kF32, vac.count(), v.frame_rows, v.frame_cols);
  ops::ProbeParams pp;
  if (std::min(v.frame_rows, v.frame_cols) < 128) pp.opening = 1;
  return ops::build_probe_template(pp, mean, v.frame_rows, v.frame_cols).kernel;
}

inline PeakLists peaks_of(const OperatorResults& r, std::uint32_t count) {
  PeakLists out(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    const auto p = r.frame_peaks(i);
    out[i].assign(p.begin(), p.end());
  }
  return out;
}

//! The CPU operator over the whole scan (one batch).
inline PeakLists cpu_bragg(const Scan& s,
                           const ops::BraggDisksParams& p,
                           const ops::ProbeKernel& k,
                           std::vector<std::uint8_t>* failed = nullptr) {
  ops::BraggDisksOp op("bragg", p, k);
  op.start(s.header);
  TestBatch b(s.header, s.frames.data(), 0, static_cast<std::uint32_t>(s.count()), {&op});
  op.process(b.batch, b.batch.results[0]);
  if (failed) *failed = b.batch.results[0].failed;
  return peaks_of(b.batch.results[0], b.batch.count);
}

//! A BatchProcessor running one Bragg task over the scan in batches of `capacity` frames (the last
//! one partial when capacity does not divide the scan).
inline PeakLists gpu_bragg(const Scan& s,
                           const ops::BraggDisksParams& p,
                           const ops::ProbeKernel& k,
                           std::uint32_t capacity,
                           std::vector<std::uint8_t>* failed = nullptr) {
  gpu::ProcessorSpec spec;
  spec.rows = s.header.frame_rows;
  spec.cols = s.header.frame_cols;
  spec.dtype = s.header.dtype;
  spec.capacity = capacity;
  spec.bragg.push_back({p, k});
  spec.slots = 2;
  gpu::BatchProcessor proc(spec);
  ops::BraggDisksOp shape_only("bragg", p, k);  // for the OperatorResults shape
  PeakLists out;
  if (failed) failed->clear();
  for (std::size_t first = 0; first < s.count(); first += capacity) {
    const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(capacity, s.count() - first));
    TestBatch b(s.header, s.frames.data(), first, n, {&shape_only});
    gpu::UnpackTargets t;
    t.bragg = {&b.batch.results[0]};
    auto r = proc.process(b.batch.pixels, n, t);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    const auto part = peaks_of(b.batch.results[0], n);
    out.insert(out.end(), part.begin(), part.end());
    if (failed)
      failed->insert(
          failed->end(), b.batch.results[0].failed.begin(), b.batch.results[0].failed.begin() + n);
  }
  return out;
}

//! Frame-by-frame agreement of two peak lists: a frame agrees when both have the same number of
//! peaks and every reference peak has its own partner within pos_tol px (and intensity within
//! int_tol relative). Peaks are compared as sets (tie order may differ).
struct PeakAgreement {
  std::size_t frames = 0;
  std::size_t agreeing = 0;
  std::size_t peaks = 0;
  double max_dpos = 0;     // over matched peaks
  double max_rel_int = 0;  // over matched peaks
  std::string first_disagreement;

  double fraction() const { return frames ? double(agreeing) / double(frames) : 1.0; }
  //! The bar: the same peaks in >= 99.5 % of frames.
  bool meets_bar() const { return agreeing >= frames - frames / 200; }
};

inline PeakAgreement compare_peaks(const PeakLists& got,
                                   const PeakLists& ref,
                                   double pos_tol = 0.01,
                                   double int_tol = 1e-3) {
  PeakAgreement a;
  a.frames = ref.size();
  for (std::size_t f = 0; f < ref.size() && f < got.size(); ++f) {
    bool ok = got[f].size() == ref[f].size();
    std::vector<bool> used(got[f].size(), false);
    for (const auto& r : ref[f]) {
      ++a.peaks;
      double best = 1e300;
      std::size_t bi = got[f].size();
      for (std::size_t i = 0; i < got[f].size(); ++i) {
        if (used[i]) continue;
        const double d = std::hypot(got[f][i].qx - r.qx, got[f][i].qy - r.qy);
        if (d < best) {
          best = d;
          bi = i;
        }
      }
      if (bi == got[f].size() || best > pos_tol) {
        ok = false;
        continue;
      }
      used[bi] = true;
      const double rel =
          std::abs(got[f][bi].intensity - r.intensity) / std::max(std::abs(r.intensity), 1e-300);
      a.max_dpos = std::max(a.max_dpos, best);
      a.max_rel_int = std::max(a.max_rel_int, rel);
      if (rel > int_tol) ok = false;
    }
    if (ok) {
      ++a.agreeing;
    } else if (a.first_disagreement.empty()) {
      std::ostringstream os;
      os << "frame " << f << ": " << got[f].size() << " GPU peaks vs " << ref[f].size()
         << " reference peaks";
      a.first_disagreement = os.str();
    }
  }
  return a;
}

inline std::string describe(const PeakAgreement& a) {
  std::ostringstream os;
  os << a.agreeing << "/" << a.frames << " frames agree (" << 100.0 * a.fraction() << " %), "
     << a.peaks << " reference peaks, max |dpos| " << a.max_dpos << " px, max rel dI "
     << a.max_rel_int;
  if (!a.first_disagreement.empty()) os << "; first disagreement: " << a.first_disagreement;
  return os.str();
}

}  // namespace stemflow::gputest
