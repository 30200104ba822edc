// SPDX-License-Identifier: GPL-3.0-or-later
// The synthetic scan generator: determinism, agreement with the py4DSTEM reference datasets'
// generator (ground_truth.csv, the noise model of data_uint16.raw), intensity statistics and dtype
// handling.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "pipeline/core/expected.hpp"
#include "sim/synth.hpp"

using namespace stemflow;
using namespace stemflow::sim;

namespace {

std::vector<std::byte> render(const SynthScan& scan, std::uint64_t index) {
  std::vector<std::byte> out(scan.params().frame_bytes());
  scan.render(index, out);
  return out;
}

template <class T>
std::vector<T> render_as(const SynthScan& scan, std::uint64_t index) {
  const auto bytes = render(scan, index);
  std::vector<T> out(bytes.size() / sizeof(T));
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

//! The expected counts (no noise) of a frame.
std::vector<float> expected_counts(SynthParams p, std::uint64_t index) {
  p.dtype = Dtype::kF32;
  p.poisson = false;
  return render_as<float>(SynthScan(p), index);
}

std::filesystem::path reference_dir(int q) {
  return std::filesystem::path(STEMFLOW_SHARED_DIR) / "reference" /
         ("py4dstem-ref-" + std::to_string(q));
}

struct GtRow {
  int h, k;
  double qx, qy, amplitude;
};
using GroundTruth =
    std::map<std::pair<int, int>, std::vector<GtRow>>;  // (rx, ry) -> disks in file order

GroundTruth read_ground_truth(const std::filesystem::path& file) {
  GroundTruth gt;
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::replace(line.begin(), line.end(), ',', ' ');
    std::istringstream ls(line);
    int rx, ry;
    GtRow r;
    ls >> rx >> ry >> r.h >> r.k >> r.qx >> r.qy >> r.amplitude;
    gt[{rx, ry}].push_back(r);
  }
  return gt;
}

//! The reference datasets' parameters: defaults, with the scan size and frame size of the dataset.
SynthParams reference_params(int q) {
  SynthParams p;
  p.frame_rows = p.frame_cols = static_cast<std::uint32_t>(q);
  p.scan_rows = p.scan_cols = q == 128 ? 32 : 8;
  return p;
}

std::vector<std::uint16_t> read_u16_frame(const std::filesystem::path& file,
                                          std::uint64_t index,
                                          std::size_t pixels) {
  std::ifstream in(file, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(index * pixels * 2));
  std::vector<std::uint16_t> out(pixels);
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(pixels * 2));
  return in ? out : std::vector<std::uint16_t>{};
}

}  // namespace

// Spec: a frame is a function of (seed, index) only; other indices and seeds give other frames.
TEST(SynthScan, DeterministicInSeedAndIndex) {
  SynthParams p;
  p.scan_rows = p.scan_cols = 4;
  const SynthScan a(p), b(p);
  EXPECT_EQ(render(a, 5), render(b, 5));
  EXPECT_EQ(render(a, 5), render(a, 5));
  EXPECT_NE(render(a, 5), render(a, 6));
  p.seed = 2;
  EXPECT_NE(render(a, 5), render(SynthScan(p), 5));
}

// Spec: render is const and thread-safe: frames rendered concurrently equal the serial ones.
TEST(SynthScan, ConcurrentRenderMatchesSerial) {
  SynthParams p;
  p.scan_rows = p.scan_cols = 4;
  const SynthScan scan(p);
  std::vector<std::vector<std::byte>> serial, parallel(p.scan_size());
  for (std::uint64_t i = 0; i < p.scan_size(); ++i) serial.push_back(render(scan, i));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::uint64_t i = t; i < p.scan_size(); i += 4) parallel[i] = render(scan, i);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(serial, parallel);
}

// Spec: disk centres and amplitude model match the reference ground_truth.csv (Q = 128, 256).
TEST(SynthScan, GroundTruthMatchesReference) {
  // Same lattice, strain, rotation and drift model; the sf weights come from another generator, so
  // amplitudes are compared as ratios between scan positions.
  for (int q : {128, 256}) {
    const auto file = reference_dir(q) / "ground_truth.csv";
    if (!std::filesystem::exists(file)) GTEST_SKIP() << file << " not found";
    const GroundTruth gt = read_ground_truth(file);
    const SynthParams p = reference_params(q);
    const SynthScan scan(p);
    ASSERT_EQ(gt.size(), p.scan_size());
    ASSERT_EQ(scan.disk_count(), 33u);
    const auto first = scan.ground_truth(0);
    double worst_pos = 0, worst_ratio = 0;
    for (const auto& [pos, ref] : gt) {
      const auto mine =
          scan.ground_truth(static_cast<std::uint64_t>(pos.first) * p.scan_cols + pos.second);
      ASSERT_EQ(mine.size(), ref.size());
      const auto& ref0 = gt.at({0, 0});
      for (std::size_t i = 0; i < ref.size(); ++i) {
        ASSERT_EQ(mine[i].h, ref[i].h);
        ASSERT_EQ(mine[i].k, ref[i].k);
        worst_pos = std::max(
            {worst_pos, std::fabs(mine[i].qx - ref[i].qx), std::fabs(mine[i].qy - ref[i].qy)});
        const double ratio_mine = mine[i].amplitude / first[i].amplitude;
        const double ratio_ref = ref[i].amplitude / ref0[i].amplitude;
        worst_ratio = std::max(worst_ratio, std::fabs(ratio_mine / ratio_ref - 1));
      }
      EXPECT_DOUBLE_EQ(mine[0].amplitude, 1200.0);
    }
    EXPECT_LT(worst_pos, 1e-6) << "Q = " << q;  // measured ~1e-13
    EXPECT_LT(worst_ratio, 1e-9) << "Q = " << q;
    std::printf("Q = %d: worst centre error %.2e px, worst amplitude-ratio error %.2e\n",
                q,
                worst_pos,
                worst_ratio);
  }
}

// Spec: reference frames are our noise-free model + Poisson noise away from the Bragg disks.
TEST(SynthScan, ReferenceFramesFitTheModelAwayFromBraggDisks) {
  // Where the sf weights do not enter: chi^2 per pixel ~ 1, no mean residual. Checks the
  // background, the central disk's profile, the pixel-centre convention and the origin drift.
  const auto file = reference_dir(128) / "data_uint16.raw";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << file << " not found";
  const SynthParams p = reference_params(128);
  const SynthScan scan(p);
  const double clear = 4.48 + 6.0;  // px from any Bragg centre: the tail there is < 1e-8 counts
  for (std::uint64_t index : {0ull, 17ull * 32 + 5, 1023ull}) {
    const auto data = read_u16_frame(file, index, p.frame_pixels());
    ASSERT_FALSE(data.empty());
    const auto model = expected_counts(p, index);
    const auto disks = scan.ground_truth(index);
    double chi2 = 0, z = 0;
    int n = 0;
    for (std::uint32_t i = 0; i < p.frame_rows; ++i) {
      for (std::uint32_t j = 0; j < p.frame_cols; ++j) {
        bool near_bragg = false;
        for (std::size_t d = 1; d < disks.size(); ++d) {
          near_bragg |= std::hypot(i - disks[d].qx, j - disks[d].qy) < clear;
        }
        if (near_bragg) continue;
        const double m = model[i * p.frame_cols + j];
        const double r = data[i * p.frame_cols + j] - m;
        chi2 += r * r / m;
        z += r / std::sqrt(m);
        ++n;
      }
    }
    ASSERT_GT(n, 3000);
    EXPECT_NEAR(chi2 / n, 1.0, 6 * std::sqrt(2.0 / n)) << "index " << index;
    EXPECT_NEAR(z / n, 0.0, 5 / std::sqrt(n)) << "index " << index;
    std::printf("frame %llu: %d pixels clear of Bragg disks, chi^2/n %.4f, mean z %+.4f\n",
                static_cast<unsigned long long>(index),
                n,
                chi2 / n,
                z / n);
  }
}

// Spec: vacuum mode is the reference's vacuum stack: the central disk alone, undrifted.
TEST(SynthScan, VacuumMatchesReferenceVacuumStack) {
  SynthParams p = reference_params(128);
  p.vacuum = true;
  const SynthScan scan(p);
  ASSERT_EQ(scan.disk_count(), 1u);
  for (std::uint64_t index : {0ull, 1023ull}) {
    const auto gt = scan.ground_truth(index);
    EXPECT_DOUBLE_EQ(gt[0].qx, 64.3);
    EXPECT_DOUBLE_EQ(gt[0].qy, 63.8);
  }
  const auto frame = render_as<std::uint16_t>(scan, 3);
  for (std::uint32_t i = 0; i < p.frame_rows; ++i) {
    for (std::uint32_t j = 0; j < p.frame_cols; ++j) {
      if (std::hypot(i - 64.3, j - 63.8) > 4.48 + 8) {
        EXPECT_EQ(frame[i * p.frame_cols + j], 0);
      }
    }
  }
  const auto file = reference_dir(128) / "vacuum_stack_uint16.raw";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << file << " not found";
  const auto model = expected_counts(p, 0);
  double chi2 = 0, data_sum = 0, model_sum = 0;
  int n = 0;
  for (std::uint64_t f = 0; f < 16; ++f) {
    const auto data = read_u16_frame(file, f, p.frame_pixels());
    ASSERT_FALSE(data.empty());
    for (std::size_t i = 0; i < data.size(); ++i) {
      data_sum += data[i];
      model_sum += model[i];
      if (model[i] < 1) continue;
      chi2 += (data[i] - model[i]) * (data[i] - model[i]) / model[i];
      ++n;
    }
  }
  EXPECT_NEAR(chi2 / n, 1.0, 6 * std::sqrt(2.0 / n));
  EXPECT_NEAR(data_sum, model_sum, 5 * std::sqrt(model_sum));
}

// Spec: central-disk pixels average ~1200 counts within Poisson error; scatter is Poisson.
TEST(SynthScan, IntensityStatisticsArePoisson) {
  SynthParams p;
  p.scan_rows = p.scan_cols = 8;
  const SynthScan scan(p);
  double sum = 0, expected = 0, chi2 = 0;
  int n_disk = 0, n_all = 0;
  for (std::uint64_t index : {0ull, 27ull, 63ull}) {
    const auto frame = render_as<std::uint16_t>(scan, index);
    const auto model = expected_counts(p, index);
    const auto o = scan.ground_truth(index)[0];
    for (std::uint32_t i = 0; i < p.frame_rows; ++i) {
      for (std::uint32_t j = 0; j < p.frame_cols; ++j) {
        const std::size_t k = i * p.frame_cols + j;
        chi2 += (frame[k] - model[k]) * (frame[k] - model[k]) / model[k];
        ++n_all;
        if (std::hypot(i - o.qx, j - o.qy) < 4.48 - 1.5) {
          sum += frame[k];
          expected += model[k];
          ++n_disk;
          // 1200 (>= 0.9975 of it) + background 0.3 + 3 exp(-r / 32)
          EXPECT_NEAR(model[k], 1201.5, 2.0);
        }
      }
    }
  }
  ASSERT_GT(n_disk, 50);
  EXPECT_NEAR(sum / n_disk, expected / n_disk, 4 * std::sqrt(expected) / n_disk);
  EXPECT_NEAR(chi2 / n_all, 1.0, 6 * std::sqrt(2.0 / n_all));
}

// Spec: a u8 frame is the u16 frame (same draws) clipped at 255; u32 and f32 are unclipped.
TEST(SynthScan, U8ClipsTheSameDraws) {
  SynthParams p;
  p.scan_rows = p.scan_cols = 2;
  const auto wide = render_as<std::uint16_t>(SynthScan(p), 3);
  p.dtype = Dtype::kU8;
  const auto narrow = render_as<std::uint8_t>(SynthScan(p), 3);
  ASSERT_EQ(wide.size(), narrow.size());
  int clipped = 0;
  for (std::size_t i = 0; i < wide.size(); ++i) {
    ASSERT_EQ(narrow[i], std::min<std::uint16_t>(wide[i], 255)) << "pixel " << i;
    clipped += wide[i] > 255;
  }
  EXPECT_GT(clipped, 50);  // the central disk at least
  p.dtype = Dtype::kU32;
  const auto u32 = render_as<std::uint32_t>(SynthScan(p), 3);
  p.dtype = Dtype::kF32;
  const auto f32 = render_as<float>(SynthScan(p), 3);
  for (std::size_t i = 0; i < wide.size(); ++i) {
    ASSERT_EQ(u32[i], wide[i]);
    ASSERT_EQ(f32[i], static_cast<float>(wide[i]));
  }
}

// Spec: rendered disk centroids sit within 0.05 px of ground_truth on a non-square frame.
TEST(SynthScan, RenderedDisksSitAtGroundTruthOnNonSquareFrames) {
  // Noise-free, background off; x scales with Qx, y with Qy.
  SynthParams p;
  p.scan_rows = 3;
  p.scan_cols = 5;
  p.frame_rows = 192;
  p.frame_cols = 256;
  p.background_counts = 0;
  p.background_floor = 0;
  const SynthScan scan(p);
  const auto gt = scan.ground_truth(14);
  EXPECT_NEAR(gt[0].qx, 96.3 + 0.4, 1e-12);   // rx = 2 of 3: u = 1/2
  EXPECT_NEAR(gt[0].qy, 127.8 - 0.3, 1e-12);  // ry = 4 of 5: v = 1/2
  const auto model = expected_counts(p, 14);
  const double r_sum = 0.035 * 192 + 2;
  int checked = 0;
  for (const auto& d : gt) {
    if (d.qx < r_sum || d.qy < r_sum || d.qx > 191 - r_sum || d.qy > 255 - r_sum) continue;
    double s = 0, sx = 0, sy = 0;
    for (int i = static_cast<int>(d.qx - r_sum); i <= static_cast<int>(d.qx + r_sum) + 1; ++i) {
      for (int j = static_cast<int>(d.qy - r_sum); j <= static_cast<int>(d.qy + r_sum) + 1; ++j) {
        if (std::hypot(i - d.qx, j - d.qy) > r_sum) continue;
        const double v = model[static_cast<std::size_t>(i) * p.frame_cols + j];
        s += v;
        sx += v * i;
        sy += v * j;
      }
    }
    EXPECT_NEAR(sx / s, d.qx, 0.05) << d.h << "," << d.k;
    EXPECT_NEAR(sy / s, d.qy, 0.05) << d.h << "," << d.k;
    ++checked;
  }
  EXPECT_GT(checked, 20);
}

// Spec: the noise-free frame equals a direct std::exp evaluation of the model (float precision).
TEST(SynthScan, NoiseFreeFrameMatchesDirectEvaluation) {
  // Wider than one 256-pixel row chunk, and with a disk cut by the frame edge.
  SynthParams p;
  p.scan_rows = p.scan_cols = 3;
  p.frame_rows = 140;
  p.frame_cols = 530;
  p.qmax = 0.6;
  const SynthScan scan(p);
  const auto gt = scan.ground_truth(7);
  const auto model = expected_counts(p, 7);
  const double q = 140, radius = 0.035 * q, width = q / 128;
  double worst = 0;
  for (std::uint32_t i = 0; i < p.frame_rows; ++i) {
    for (std::uint32_t j = 0; j < p.frame_cols; ++j) {
      double v = 0.3 + 3.0 * std::exp(-std::hypot(i - gt[0].qx, j - gt[0].qy) / (0.25 * q));
      for (const auto& d : gt) {
        v +=
            d.amplitude / (1.0 + std::exp(4.0 * (std::hypot(i - d.qx, j - d.qy) - radius) / width));
      }
      worst = std::max(worst, std::fabs(model[i * p.frame_cols + j] - v) / v);
    }
  }
  EXPECT_LT(worst, 1e-6);
  bool cut = false;
  for (const auto& d : gt) cut |= d.qx < radius || d.qx > 139 - radius;
  EXPECT_TRUE(cut);
}

// Spec: the noise-free integer frame is the expected counts rounded.
TEST(SynthScan, NoiseFreeIntegerFrameIsRounded) {
  SynthParams p;
  p.scan_rows = p.scan_cols = 2;
  p.poisson = false;
  const auto u16 = render_as<std::uint16_t>(SynthScan(p), 1);
  const auto model = expected_counts(p, 1);
  for (std::size_t i = 0; i < u16.size(); ++i) ASSERT_NEAR(u16[i], model[i], 0.5 + 1e-3) << i;
}

// Spec: each +-(h, k) pair shares one weight in [sf_min, sf_max]; weights depend on the seed.
TEST(SynthScan, FriedelPairsShareAmplitudes) {
  SynthParams p;
  p.strain_xx_span = p.strain_yy_span = p.shear_xy_span = p.rotation_span_deg = 0;
  p.scan_rows = p.scan_cols = 1;
  const auto gt = SynthScan(p).ground_truth(0);
  p.seed = 99;
  const auto other = SynthScan(p).ground_truth(0);
  bool seed_matters = false;
  for (std::size_t i = 1; i < gt.size(); ++i) {
    for (std::size_t j = 1; j < gt.size(); ++j) {
      if (gt[j].h == -gt[i].h && gt[j].k == -gt[i].k) {
        EXPECT_DOUBLE_EQ(gt[i].amplitude, gt[j].amplitude);
      }
    }
    const double g = std::hypot(gt[i].qx - gt[0].qx, gt[i].qy - gt[0].qy);
    const double sf = gt[i].amplitude / (250.0 * std::exp(-g / (0.35 * 128)));
    EXPECT_GE(sf, 0.35 - 1e-12);  // a 1 x 1 scan sits at u = v = 0: no modulation
    EXPECT_LE(sf, 1.0 + 1e-12);
    seed_matters |= other[i].amplitude != gt[i].amplitude;
    EXPECT_EQ(other[i].qx, gt[i].qx);
  }
  EXPECT_TRUE(seed_matters);
}

// Error guessing: bad parameters throw ConfigError; a wrong buffer or index throws.
TEST(SynthScan, RejectsBadParametersAndBuffers) {
  const auto rejects = [](auto mutate) {
    SynthParams p;
    mutate(p);
    EXPECT_THROW(SynthScan{p}, ConfigError);
  };
  rejects([](SynthParams& p) { p.scan_rows = 0; });
  rejects([](SynthParams& p) { p.frame_cols = 0; });
  rejects([](SynthParams& p) { p.frame_rows = 100000; });
  rejects([](SynthParams& p) { p.disk_radius = 0; });
  rejects([](SynthParams& p) { p.edge_width = -1; });
  rejects([](SynthParams& p) { p.bragg_decay = std::nan(""); });
  rejects([](SynthParams& p) { p.central_counts = -5; });
  rejects([](SynthParams& p) { p.central_counts = 1e15; });
  rejects([](SynthParams& p) { p.thickness_modulation = 1.5; });
  rejects([](SynthParams& p) { p.sf_min = 0.9, p.sf_max = 0.5; });
  rejects([](SynthParams& p) { p.strain_xx_span = 2; });
  rejects([](SynthParams& p) { p.g2 = {0.28, 0.04}; });  // parallel to g1
  rejects([](SynthParams& p) { p.qmax = 5; });           // thousands of disks

  SynthParams p;
  p.scan_rows = p.scan_cols = 2;
  const SynthScan scan(p);
  std::vector<std::byte> small(p.frame_bytes() - 1);
  EXPECT_THROW(scan.render(0, small), std::invalid_argument);
  std::vector<std::byte> ok(p.frame_bytes());
  EXPECT_THROW(scan.render(4, ok), std::out_of_range);
  EXPECT_THROW(scan.ground_truth(4), std::out_of_range);
}
