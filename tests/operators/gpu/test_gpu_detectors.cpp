// SPDX-License-Identifier: GPL-3.0-or-later
// Spec: virtual detectors, centre of mass and the mean / max patterns on the GPU equal the CPU
// operators (VirtualImageOp, CenterOfMassOp, MeanPatternOp, MaxPatternOp) on random synthetic scans
// of every pixel type: bit-identical for integer pixels over binary masks (exact integer sums on
// both sides), within 1e-12 relative for f32 pixels or weighted masks (float64 sums in another
// order; the issue allows 1e-6); NaN frames (f32) fail as on the CPU. The engine glue (Offload)
// routes every operator's results to its own slot and gives the same series images. On the py4DSTEM
// reference scans the images equal py4DSTEM's. Every test skips without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <numeric>

#include "gpu_test_support.hpp"
#include "operators/center_of_mass/center_of_mass.hpp"
#include "operators/gpu/gpu_offload.hpp"
#include "operators/max_pattern/max_pattern.hpp"
#include "operators/mean_pattern/mean_pattern.hpp"
#include "operators/virtual_image/virtual_image.hpp"

using namespace stemflow;
using namespace stemflow::gputest;

namespace {

std::vector<ops::DetectorGeometry> detector_geometries(std::uint32_t rows, std::uint32_t cols) {
  std::vector<ops::DetectorGeometry> g(6);
  g[0].shape = ops::DetectorShape::kCircle;  // bright field
  g[0].center = {rows / 2.0 + 0.3, cols / 2.0 - 0.2};
  g[0].radius = 0.04 * rows;
  g[1].shape = ops::DetectorShape::kAnnulus;  // annular dark field
  g[1].center = g[0].center;
  g[1].radii = {0.07 * rows, 0.21 * rows};
  g[2].shape = ops::DetectorShape::kRectangle;
  g[2].bounds = {rows / 4.0, rows / 2.0, cols / 4.0, 3 * cols / 4.0};
  g[3].shape = ops::DetectorShape::kPoint;
  g[3].center = {rows / 2.0, cols / 2.0};
  g[4].shape = ops::DetectorShape::kMask;  // weighted: a smooth ramp
  g[4].mask_rows = rows;
  g[4].mask_cols = cols;
  g[4].mask.resize(std::size_t(rows) * cols);
  for (std::size_t i = 0; i < g[4].mask.size(); ++i) g[4].mask[i] = 0.25 + double(i % 97) / 97.0;
  g[5].shape = ops::DetectorShape::kNone;  // the whole frame
  return g;
}

//! Relative difference with exact equality required where `exact`.
void expect_close(double gpu, double cpu, bool exact, const std::string& what) {
  if (std::isnan(cpu)) {
    EXPECT_TRUE(std::isnan(gpu)) << what;
    return;
  }
  if (exact) {
    EXPECT_EQ(gpu, cpu) << what;
  } else {
    EXPECT_LE(std::abs(gpu - cpu), 1e-12 * std::max(1.0, std::abs(cpu)))
        << what << ": " << gpu << " vs " << cpu;
  }
}

struct Pipeline {
  std::vector<std::unique_ptr<Operator>> ops;
  std::vector<const Operator*> raw() const {
    std::vector<const Operator*> r;
    for (const auto& o : ops) r.push_back(o.get());
    return r;
  }
};

Pipeline make_pipeline(std::uint32_t rows,
                       std::uint32_t cols,
                       bool with_bragg,
                       const ops::ProbeKernel& kernel) {
  Pipeline p;
  const auto g = detector_geometries(rows, cols);
  p.ops.push_back(std::make_unique<ops::VirtualImageOp>("bf", g[0]));
  p.ops.push_back(std::make_unique<ops::VirtualImageOp>("adf", g[1]));
  p.ops.push_back(std::make_unique<ops::VirtualImageOp>("rect", g[2]));
  p.ops.push_back(std::make_unique<ops::VirtualImageOp>("point", g[3]));
  p.ops.push_back(std::make_unique<ops::VirtualImageOp>("weighted", g[4]));
  p.ops.push_back(std::make_unique<ops::CenterOfMassOp>("com", g[5]));
  p.ops.push_back(std::make_unique<ops::CenterOfMassOp>("com_bf", g[0]));
  p.ops.push_back(std::make_unique<ops::CenterOfMassOp>("com_weighted", g[4]));
  p.ops.push_back(std::make_unique<ops::MeanPatternOp>("mean"));
  p.ops.push_back(std::make_unique<ops::MaxPatternOp>("max"));
  if (with_bragg) {
    ops::BraggDisksParams bp;
    bp.subpixel = ops::Subpixel::kPoly;
    bp.edge_boundary = 4;
    bp.min_peak_spacing = 9;
    p.ops.push_back(std::make_unique<ops::BraggDisksOp>("bragg", bp, kernel));
  }
  return p;
}

// Runs the pipeline's operators over the scan both ways: the CPU operators directly, and the GPU
// through Offload (the engine's glue), batch by batch; compares every per-frame value and the
// series images.
void compare_pipeline(Dtype dtype, bool inject_nan) {
  SCOPED_TRACE(std::string(dtype_name(dtype)));
  sim::SynthParams sp;
  sp.frame_rows = 96;
  sp.frame_cols = 80;
  sp.scan_rows = quick() ? 3 : 12;
  sp.scan_cols = quick() ? 5 : 12;
  sp.dtype = dtype;
  sp.seed = 77;
  Scan s = render_scan(sp);
  if (inject_nan) {
    auto* px = reinterpret_cast<float*>(s.frames.data());
    px[2 * s.header.frame_pixels() + 17] = std::numeric_limits<float>::quiet_NaN();
  }
  const auto kernel = synthetic_template(sp);
  Pipeline cpu = make_pipeline(sp.frame_rows, sp.frame_cols, true, kernel);
  Pipeline gpu = make_pipeline(sp.frame_rows, sp.frame_cols, true, kernel);
  for (auto& o : cpu.ops) o->start(s.header);
  for (auto& o : gpu.ops) o->start(s.header);

  const std::uint32_t cap = 25;  // does not divide the scan: the last batch is partial
  const auto device = gpu::choose_device("cuda", "test");
  auto offload = gpu::make_offload(device);
  ASSERT_NE(offload, nullptr);
  offload->start(s.header, gpu.ops, cap);
  for (std::size_t o = 0; o < gpu.ops.size(); ++o) {
    EXPECT_TRUE(offload->runs(o)) << gpu.ops[o]->name() << " should run on the GPU";
  }
  for (std::size_t first = 0; first < s.count(); first += cap) {
    const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(cap, s.count() - first));
    TestBatch cb(s.header, s.frames.data(), first, n, cpu.raw());
    TestBatch gb(s.header, s.frames.data(), first, n, gpu.raw());
    for (std::size_t o = 0; o < cpu.ops.size(); ++o)
      cpu.ops[o]->process(cb.batch, cb.batch.results[o]);
    offload->process(gb.batch);
    for (std::size_t o = 0; o < cpu.ops.size(); ++o) {
      const auto& c = cb.batch.results[o];
      const auto& g = gb.batch.results[o];
      const std::string name = cpu.ops[o]->name();
      const bool weighted = name.find("weighted") != std::string::npos;
      const bool exact = dtype != Dtype::kF32 && !weighted;
      for (std::uint32_t i = 0; i < n; ++i) {
        const std::string what = name + " frame " + std::to_string(first + i);
        EXPECT_EQ(g.failed[i], c.failed[i]) << what;
        if (name == "bragg") continue;  // compared below as peak lists
        for (std::uint32_t k = 0; k < c.scalars_per_frame; ++k) {
          expect_close(g.frame_scalars(i)[k],
                       c.frame_scalars(i)[k],
                       exact,
                       what + " scalar " + std::to_string(k));
        }
      }
      if (name == "bragg") {
        const auto a = compare_peaks(peaks_of(g, n), peaks_of(c, n), 0.01, 1e-3);
        EXPECT_TRUE(a.meets_bar()) << describe(a);
      }
    }
  }
  for (std::size_t o = 0; o < cpu.ops.size(); ++o) {
    const auto ci = cpu.ops[o]->finish();
    const auto gi = offload->finish(o);
    ASSERT_EQ(ci.size(), gi.size()) << cpu.ops[o]->name();
    for (std::size_t k = 0; k < ci.size(); ++k) {
      ASSERT_EQ(gi[k].values.size(), ci[k].values.size());
      EXPECT_EQ(gi[k].rows, ci[k].rows);
      EXPECT_EQ(gi[k].units, ci[k].units);
      // Integer pixels: sums of integers in float64 are exact on both sides, so even the mean
      // (one division) is identical; f32: the per-pixel sums differ in order.
      for (std::size_t i = 0; i < ci[k].values.size(); ++i) {
        expect_close(gi[k].values[i],
                     ci[k].values[i],
                     dtype != Dtype::kF32,
                     cpu.ops[o]->name() + " pixel " + std::to_string(i));
      }
    }
  }
}

}  // namespace

TEST(GpuDetectors, EqualCpuOperatorsForEveryPixelType) {
  STEMFLOW_REQUIRE_GPU();
  for (Dtype d : {Dtype::kU8, Dtype::kU16, Dtype::kU32, Dtype::kF32}) compare_pipeline(d, false);
}

// Edge case: a NaN pixel fails that frame for every operator, and the patterns leave it out.
TEST(GpuDetectors, NanFramesFailAsOnTheCpu) {
  STEMFLOW_REQUIRE_GPU();
  compare_pipeline(Dtype::kF32, true);
}

// Edge case: u32 pixels near 2^32 over a whole 512 x 512 frame: sums need more than 32 bits and the
// moments more than 64; the GPU's 128-bit block sums must equal the CPU's exactly.
TEST(GpuDetectors, LargeIntegerSumsAreExact) {
  STEMFLOW_REQUIRE_GPU();
  SeriesHeader h;
  h.scan_rows = 1;
  h.scan_cols = 3;
  h.frame_rows = h.frame_cols = 512;
  h.dtype = Dtype::kU32;
  std::vector<std::uint32_t> px(3 * 512 * 512);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = 0xFFFFFFFFu - std::uint32_t(i % 1013);
  ops::DetectorGeometry whole;  // kNone
  ops::CenterOfMassOp cpu_com("com", whole), gpu_com("com", whole);
  ops::DetectorGeometry rect;
  rect.shape = ops::DetectorShape::kRectangle;
  rect.bounds = {0, 512, 0, 512};
  ops::VirtualImageOp cpu_vi("all", rect), gpu_vi("all", rect);
  for (Operator* o : std::vector<Operator*>{&cpu_com, &gpu_com, &cpu_vi, &gpu_vi}) o->start(h);
  const auto* bytes = reinterpret_cast<const std::byte*>(px.data());
  TestBatch cb(h, bytes, 0, 3, {&cpu_com, &cpu_vi});
  cpu_com.process(cb.batch, cb.batch.results[0]);
  cpu_vi.process(cb.batch, cb.batch.results[1]);
  gpu::ProcessorSpec spec;
  spec.rows = spec.cols = 512;
  spec.dtype = Dtype::kU32;
  spec.capacity = 3;
  spec.com.push_back({gpu_com.mask().binary(), gpu_com.mask().dense()});
  spec.detectors.push_back({gpu_vi.mask().binary(), gpu_vi.mask().dense()});
  gpu::BatchProcessor proc(spec);
  TestBatch gb(h, bytes, 0, 3, {&gpu_com, &gpu_vi});
  gpu::UnpackTargets t;
  t.com = {&gb.batch.results[0]};
  t.detectors = {&gb.batch.results[1]};
  ASSERT_TRUE(proc.process(gb.batch.pixels, 3, t).has_value());
  for (std::uint32_t i = 0; i < 3; ++i) {
    for (int k = 0; k < 3; ++k) {
      EXPECT_EQ(gb.batch.results[0].frame_scalars(i)[k], cb.batch.results[0].frame_scalars(i)[k]);
    }
    EXPECT_EQ(gb.batch.results[1].frame_scalars(i)[0], cb.batch.results[1].frame_scalars(i)[0]);
  }
}

// Spec: the benchmark's stage profile records GPU time for every stage.
TEST(GpuDetectors, StageProfileRecordsEveryStage) {
  STEMFLOW_REQUIRE_GPU();
  sim::SynthParams sp;
  sp.scan_rows = 2;
  sp.scan_cols = 8;
  const Scan s = render_scan(sp);
  gpu::ProcessorSpec spec;
  spec.rows = spec.cols = 128;
  spec.capacity = 16;
  spec.profile = true;
  ops::BraggDisksParams bp;
  bp.subpixel = ops::Subpixel::kPoly;
  spec.bragg.push_back({bp, synthetic_template(sp)});
  spec.detectors.push_back({true, std::vector<double>(128 * 128, 1.0)});
  gpu::BatchProcessor proc(spec);
  ops::BraggDisksOp shape("b", bp, spec.bragg[0].kernel);
  ops::DetectorGeometry all;
  all.shape = ops::DetectorShape::kRectangle;
  all.bounds = {0, 128, 0, 128};
  ops::VirtualImageOp vshape("v", all);
  TestBatch b(s.header, s.frames.data(), 0, 16, {&shape, &vshape});
  gpu::UnpackTargets t;
  t.bragg = {&b.batch.results[0]};
  t.detectors = {&b.batch.results[1]};
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(proc.process(b.batch.pixels, 16, t).has_value());
  const auto st = proc.stage_times();
  EXPECT_EQ(st.batches, 3u);
  EXPECT_GT(st.copy_in, 0);
  EXPECT_GT(st.frame_pass, 0);
  EXPECT_GT(st.fft, 0);
  EXPECT_GT(st.peaks, 0);
  EXPECT_GT(st.copy_out, 0);
}

// Spec: on the py4DSTEM reference scans, virtual images and CoM equal py4DSTEM's (virtual images
// exactly: both sum u16 pixels in integers; CoM within 1e-12 relative).
TEST(GpuDetectorsReference, EqualPy4dstemImages) {
  STEMFLOW_REQUIRE_GPU();
  const auto root = shared_dir() / "reference";
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec)) {
    GTEST_SKIP() << "shared reference data not found under " << root
                 << " (set STEMFLOW_SHARED_DIR): py4DSTEM comparison skipped";
  }
  std::size_t checked = 0;
  for (const auto& e : std::filesystem::directory_iterator(root, ec)) {
    const auto dir = e.path();
    if (!std::filesystem::exists(dir / "data_uint16.raw")) continue;
    const std::string m = read_meta_text(dir);
    const auto dims = meta_shape(m);
    const std::uint32_t ry = dims[1], q = dims[2];
    std::ifstream df(dir / "data_uint16.raw", std::ios::binary | std::ios::ate);
    const std::size_t frames = std::min<std::size_t>(
        std::size_t(df.tellg()) / (std::size_t(q) * q * 2), std::size_t(dims[0]) * ry);
    df.seekg(0);
    std::vector<std::uint16_t> data(frames * q * q);
    df.read(reinterpret_cast<char*>(data.data()), std::streamsize(data.size() * 2));
    SeriesHeader h;
    h.scan_rows = static_cast<std::uint32_t>(frames / ry);
    h.scan_cols = ry;
    h.frame_rows = h.frame_cols = q;
    h.dtype = Dtype::kU16;
    // meta.json virtual_images: bright_field circle, annular_dark_field annulus, rectangle, point.
    const auto vi = m.find("\"virtual_images\"");
    const auto numbers_after = [&](const std::string& key, int count) {
      std::vector<double> v;
      std::size_t p = m.find("\"geometry\"", m.find("\"" + key + "\"", vi));
      while (int(v.size()) < count) {
        p = m.find_first_of("-0123456789", p);
        std::size_t used = 0;
        v.push_back(std::stod(m.substr(p), &used));
        p += used;
      }
      return v;
    };
    std::vector<std::pair<std::string, ops::DetectorGeometry>> dets;
    {
      ops::DetectorGeometry g;
      const auto c = numbers_after("bright_field", 3);
      g.shape = ops::DetectorShape::kCircle;
      g.center = {c[0], c[1]};
      g.radius = c[2];
      dets.emplace_back("virtual_bright_field_float64.raw", g);
      const auto a = numbers_after("annular_dark_field", 4);
      ops::DetectorGeometry ga;
      ga.shape = ops::DetectorShape::kAnnulus;
      ga.center = {a[0], a[1]};
      ga.radii = {a[2], a[3]};
      dets.emplace_back("virtual_annular_dark_field_float64.raw", ga);
      const auto r = numbers_after("rectangle", 4);
      ops::DetectorGeometry gr;
      gr.shape = ops::DetectorShape::kRectangle;
      gr.bounds = {r[0], r[1], r[2], r[3]};
      dets.emplace_back("virtual_rectangle_float64.raw", gr);
      const auto pt = numbers_after("point", 2);
      ops::DetectorGeometry gp;
      gp.shape = ops::DetectorShape::kPoint;
      gp.center = {pt[0], pt[1]};
      dets.emplace_back("virtual_point_float64.raw", gp);
    }
    gpu::ProcessorSpec spec;
    spec.rows = spec.cols = q;
    spec.capacity = 40;
    std::vector<std::unique_ptr<ops::VirtualImageOp>> shapes;
    for (const auto& [file, g] : dets) {
      shapes.push_back(std::make_unique<ops::VirtualImageOp>(file, g));
      shapes.back()->start(h);
      spec.detectors.push_back({shapes.back()->mask().binary(), shapes.back()->mask().dense()});
    }
    ops::CenterOfMassOp com("com", ops::DetectorGeometry{});
    com.start(h);
    spec.com.push_back({com.mask().binary(), com.mask().dense()});
    gpu::BatchProcessor proc(spec);
    std::vector<std::vector<double>> got(dets.size() + 2, std::vector<double>(frames));
    for (std::size_t first = 0; first < frames; first += spec.capacity) {
      const auto n =
          static_cast<std::uint32_t>(std::min<std::size_t>(spec.capacity, frames - first));
      std::vector<const Operator*> ops_list;
      for (auto& s : shapes) ops_list.push_back(s.get());
      ops_list.push_back(&com);
      TestBatch b(h, reinterpret_cast<const std::byte*>(data.data()), first, n, ops_list);
      gpu::UnpackTargets t;
      for (std::size_t d = 0; d < dets.size(); ++d) t.detectors.push_back(&b.batch.results[d]);
      t.com = {&b.batch.results[dets.size()]};
      ASSERT_TRUE(proc.process(b.batch.pixels, n, t).has_value());
      for (std::uint32_t i = 0; i < n; ++i) {
        for (std::size_t d = 0; d < dets.size(); ++d)
          got[d][first + i] = b.batch.results[d].frame_scalars(i)[0];
        got[dets.size()][first + i] = b.batch.results[dets.size()].frame_scalars(i)[0];
        got[dets.size() + 1][first + i] = b.batch.results[dets.size()].frame_scalars(i)[1];
      }
    }
    const auto read_f64 = [&](const std::string& f) {
      std::ifstream in(dir / f, std::ios::binary);
      std::vector<double> v(frames);
      in.read(reinterpret_cast<char*>(v.data()), std::streamsize(frames * sizeof(double)));
      return v;
    };
    for (std::size_t d = 0; d < dets.size(); ++d) {
      const auto ref = read_f64(dets[d].first);
      for (std::size_t f = 0; f < frames; ++f)
        EXPECT_EQ(got[d][f], ref[f]) << dets[d].first << " frame " << f;
    }
    const auto qx = read_f64("com_qx_float64.raw"), qy = read_f64("com_qy_float64.raw");
    for (std::size_t f = 0; f < frames; ++f) {
      EXPECT_NEAR(got[dets.size()][f], qx[f], 1e-12 * std::abs(qx[f])) << "com qx frame " << f;
      EXPECT_NEAR(got[dets.size() + 1][f], qy[f], 1e-12 * std::abs(qy[f])) << "com qy frame " << f;
    }
    std::printf("[ %s, %zu frames ] GPU virtual images and CoM checked against py4DSTEM\n",
                dir.filename().c_str(),
                frames);
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "no reference dataset with data_uint16.raw under " << root;
}
