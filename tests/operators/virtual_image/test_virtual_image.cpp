// SPDX-License-Identifier: GPL-3.0-or-later
// Virtual detectors: py4DSTEM's mask semantics, exact sums on every dtype, and the shared py4DSTEM
// reference images reproduced to 1e-9.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <random>
#include <sstream>

#include "operators/center_of_mass/center_of_mass.hpp"
#include "operators/virtual_image/virtual_image.hpp"
#include "operators/virtual_image/virtual_image_cpu.hpp"
#include "tests/support/reference.hpp"

using namespace stemflow;
using namespace stemflow::ops;

namespace {

DetectorGeometry circle(double qx, double qy, double r) {
  DetectorGeometry g;
  g.shape = DetectorShape::kCircle;
  g.center = {qx, qy};
  g.radius = r;
  return g;
}

bool in_mask(const DetectorMask& m, std::uint32_t i, std::uint32_t j) {
  return m.dense()[std::size_t(i) * m.cols() + j] != 0.0;
}

}  // namespace

// Spec: circle membership is strict (r^2 < R^2): a pixel exactly on the radius is outside.
TEST(DetectorMask, CircleIsStrict) {
  DetectorMask m(circle(5, 5, 2), 11, 11, "t");
  EXPECT_TRUE(in_mask(m, 5, 5));
  EXPECT_TRUE(in_mask(m, 6, 6));   // r^2 = 2
  EXPECT_FALSE(in_mask(m, 7, 5));  // r^2 = 4 = R^2
  EXPECT_FALSE(in_mask(m, 3, 5));
  EXPECT_EQ(m.pixel_count(), 9u);  // r^2 in {0, 1, 2}: 1 + 4 + 4
}

// Spec: annulus is strict on both radii.
TEST(DetectorMask, AnnulusIsStrictOnBothRadii) {
  DetectorGeometry g;
  g.shape = DetectorShape::kAnnulus;
  g.center = {5, 5};
  g.radii = {1, 2};
  DetectorMask m(g, 11, 11, "t");
  EXPECT_FALSE(in_mask(m, 5, 5));
  EXPECT_FALSE(in_mask(m, 6, 5));  // r^2 = 1 = Ri^2
  EXPECT_TRUE(in_mask(m, 6, 6));   // r^2 = 2
  EXPECT_FALSE(in_mask(m, 7, 5));  // r^2 = 4 = Ro^2
  EXPECT_EQ(m.pixel_count(), 4u);
}

// Spec: rectangle rows [round(a), round(b)) x cols [round(c), round(d)), numpy half-to-even
// rounding.
TEST(DetectorMask, RectangleIsHalfOpenWithBankersRounding) {
  DetectorGeometry g;
  g.shape = DetectorShape::kRectangle;
  g.bounds = {2.5, 4.5, 1.5, 3.5};  // -> rows [2, 4), cols [2, 4)
  DetectorMask m(g, 8, 8, "t");
  EXPECT_EQ(m.pixel_count(), 4u);
  EXPECT_TRUE(in_mask(m, 2, 2));
  EXPECT_TRUE(in_mask(m, 3, 3));
  EXPECT_FALSE(in_mask(m, 4, 3));
  EXPECT_FALSE(in_mask(m, 3, 4));
  EXPECT_FALSE(in_mask(m, 1, 2));
  g.bounds = {0, 100, 6, 100};  // clamped to the frame, as Python slices are
  EXPECT_EQ(DetectorMask(g, 8, 8, "t").pixel_count(), 16u);
}

// Spec: point detector truncates toward zero (Python int()).
TEST(DetectorMask, PointTruncates) {
  DetectorGeometry g;
  g.shape = DetectorShape::kPoint;
  g.center = {3.99, 0.5};
  DetectorMask m(g, 8, 8, "t");
  EXPECT_EQ(m.pixel_count(), 1u);
  EXPECT_TRUE(in_mask(m, 3, 0));
  g.center = {8.0, 1.0};
  EXPECT_THROW(DetectorMask(g, 8, 8, "t"), ConfigError);
}

// Edge cases: bad geometry is a configuration error naming the parameter.
TEST(DetectorMask, BadGeometryIsAConfigError) {
  EXPECT_THROW(DetectorMask(circle(1, 1, -1), 8, 8, "t"), ConfigError);
  DetectorGeometry g;
  g.shape = DetectorShape::kAnnulus;
  g.radii = {3, 2};
  EXPECT_THROW(DetectorMask(g, 8, 8, "t"), ConfigError);
  g.shape = DetectorShape::kMask;
  g.mask.assign(12, 1.0);
  g.mask_rows = 3;
  g.mask_cols = 4;
  EXPECT_THROW(DetectorMask(g, 8, 8, "t"), ConfigError);
  g.mask[2] = std::nan("");
  EXPECT_THROW(DetectorMask(g, 3, 4, "t"), ConfigError);
}

// Spec: masked sums equal a direct dense computation bit for bit for 0/1 masks on every dtype, and
// to rounding for weighted masks.
template <class T>
class MaskedSum : public ::testing::Test {};
using PixelTypes = ::testing::Types<std::uint8_t, std::uint16_t, std::uint32_t, float>;
TYPED_TEST_SUITE(MaskedSum, PixelTypes);

TYPED_TEST(MaskedSum, MatchesDenseComputation) {
  using T = TypeParam;
  const std::uint32_t rows = 37, cols = 53;
  std::mt19937_64 rng(7);
  std::vector<T> frame(rows * cols);
  for (auto& v : frame) {
    if constexpr (std::is_floating_point_v<T>) {
      v = static_cast<T>(std::uniform_int_distribution<int>(0, 1 << 20)(rng));
    } else {
      v = static_cast<T>(rng());
    }
  }
  std::vector<DetectorGeometry> geoms;
  geoms.push_back(circle(18.3, 25.9, 11.2));
  DetectorGeometry ann;
  ann.shape = DetectorShape::kAnnulus;
  ann.center = {20, 20};
  ann.radii = {4.5, 15};
  geoms.push_back(ann);
  DetectorGeometry rect;
  rect.shape = DetectorShape::kRectangle;
  rect.bounds = {3, 30, 10.5, 40};
  geoms.push_back(rect);
  DetectorGeometry none;
  geoms.push_back(none);
  DetectorGeometry weighted;
  weighted.shape = DetectorShape::kMask;
  weighted.mask_rows = rows;
  weighted.mask_cols = cols;
  for (std::uint32_t k = 0; k < rows * cols; ++k) weighted.mask.push_back((k % 7) * 0.25);
  geoms.push_back(weighted);

  for (const auto& g : geoms) {
    DetectorMask m(g, rows, cols, "t");
    const auto dense = m.dense();
    long double expect = 0, ex = 0, ey = 0;
    for (std::uint32_t i = 0; i < rows; ++i)
      for (std::uint32_t j = 0; j < cols; ++j) {
        const long double v = (long double)frame[i * cols + j] * dense[i * cols + j];
        expect += v;
        ex += v * i;
        ey += v * j;
      }
    const double got = masked_sum(frame.data(), m);
    const Moments mo = masked_moments(frame.data(), m);
    if (m.binary()) {
      EXPECT_EQ(got, static_cast<double>(expect));
      EXPECT_EQ(mo.sum, static_cast<double>(expect));
      EXPECT_EQ(mo.sum_qx, static_cast<double>(ex));
      EXPECT_EQ(mo.sum_qy, static_cast<double>(ey));
    } else {
      EXPECT_NEAR(got, static_cast<double>(expect), 1e-12 * std::abs(double(expect)));
      EXPECT_NEAR(mo.sum_qy, static_cast<double>(ey), 1e-12 * std::abs(double(ey)));
    }
  }
}

// Edge case: NaN pixels inside the detector mark the frame failed; outside they do not matter.
TEST(VirtualImageOp, NaNFrameIsMarkedFailed) {
  SeriesHeader h;
  h.scan_rows = 1;
  h.scan_cols = 2;
  h.frame_rows = h.frame_cols = 8;
  h.dtype = Dtype::kF32;
  std::vector<float> frames(2 * 64, 1.0f);
  frames[64 + 4 * 8 + 4] = std::nanf("");
  VirtualImageOp op("bf", circle(4, 4, 2));
  op.start(h);
  test::TestBatch tb(h, frames.data(), 0, 2, {&op});
  op.process(tb.batch, tb.batch.results[0]);
  EXPECT_EQ(tb.batch.results[0].failed[0], 0);
  EXPECT_EQ(tb.batch.results[0].frame_scalars(0)[0], 9.0);
  EXPECT_EQ(tb.batch.results[0].failed[1], 1);
}

// Spec: a detector region that covers no pixel of the frame is a clear mistake (an all-zero image
// otherwise) and is reported when the series starts, naming the operator, its geometry and the
// frame shape; a region partly inside the frame is legitimate and not reported.
TEST(VirtualImageOp, RegionCoveringNoPixelIsReportedAtStart) {
  std::ostringstream captured;
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured)));
  struct Restore {
    std::shared_ptr<spdlog::logger> logger;
    ~Restore() { spdlog::set_default_logger(logger); }
  } restore{previous};

  SeriesHeader h;
  h.scan_rows = h.scan_cols = 2;
  h.frame_rows = 64;
  h.frame_cols = 48;
  h.dtype = Dtype::kU16;
  auto rectangle = [](double a, double b, double c, double d) {
    DetectorGeometry g;
    g.shape = DetectorShape::kRectangle;
    g.bounds = {a, b, c, d};
    return g;
  };
  DetectorGeometry annulus;
  annulus.shape = DetectorShape::kAnnulus;
  annulus.center = {-50, 20};
  annulus.radii = {2, 10};
  struct Case {
    std::string name;
    DetectorGeometry g;
    std::string expect;  // empty: no warning
  };
  const std::vector<Case> cases = {
      {"far",
       circle(200, 200, 5),
       "operator 'far' (virtual_image): the detector circle center "
       "[200, 200] radius 5 covers no pixel of the 64x48 frame"},
      {"ring", annulus, "the detector annulus center [-50, 20] radii [2, 10] covers no pixel"},
      {"below", rectangle(70, 80, 0, 10), "rectangle bounds [70, 80, 0, 10] covers no pixel"},
      {"empty", rectangle(10, 10, 0, 5), "rectangle bounds [10, 10, 0, 5] covers no pixel"},
      {"edge", circle(63, 47, 5), ""},  // partly inside: legitimate
      {"inside", circle(32, 24, 5), ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    captured.str("");
    VirtualImageOp op(c.name, c.g);
    op.start(h);
    const std::string text = captured.str();
    if (c.expect.empty()) {
      EXPECT_EQ(text, "");
    } else {
      EXPECT_NE(text.find(c.expect), std::string::npos) << text;
      EXPECT_NE(text.find("[warning]"), std::string::npos) << text;
    }
  }
  captured.str("");
  CenterOfMassOp com("com", rectangle(100, 120, 0, 8));
  com.start(h);
  EXPECT_NE(captured.str().find("operator 'com' (center_of_mass): the detector rectangle bounds "
                                "[100, 120, 0, 8] covers no pixel of the 64x48 frame"),
            std::string::npos)
      << captured.str();
  captured.str("");
  CenterOfMassOp whole("whole", DetectorGeometry{});
  whole.start(h);
  EXPECT_EQ(captured.str(), "");
}

// Spec: py4DSTEM's virtual images and whole-frame CoM of the shared datasets, to 1e-9 relative.
TEST(VirtualImageOp, ReproducesPy4DSTEMReference) {
  const auto datasets = test::reference_datasets();
  STEMFLOW_REQUIRE_REFERENCE(datasets);
  for (const auto& dir : datasets) {
    SCOPED_TRACE(dir.string());
    const auto meta = test::read_meta(dir);
    const auto shape = meta["data"]["shape"];
    SeriesHeader h;
    h.scan_rows = shape[0];
    h.scan_cols = shape[1];
    h.frame_rows = shape[2];
    h.frame_cols = shape[3];
    h.dtype = Dtype::kU16;
    const auto data = test::read_raw<std::uint16_t>(dir / "data_uint16.raw");
    ASSERT_EQ(data.size(), h.scan_size() * h.frame_pixels());

    std::vector<std::unique_ptr<Operator>> ops;
    std::vector<std::string> files;
    for (const auto& [name, vi] : meta["virtual_images"].items()) {
      DetectorGeometry g;
      const std::string mode = vi["mode"];
      const auto& geo = vi["geometry"];
      if (mode == "circle") {
        g.shape = DetectorShape::kCircle;
        g.center = {geo[0][0], geo[0][1]};
        g.radius = geo[1];
      } else if (mode == "annulus") {
        g.shape = DetectorShape::kAnnulus;
        g.center = {geo[0][0], geo[0][1]};
        g.radii = {geo[1][0], geo[1][1]};
      } else if (mode == "rectangle") {
        g.shape = DetectorShape::kRectangle;
        g.bounds = {geo[0], geo[1], geo[2], geo[3]};
      } else if (mode == "point") {
        g.shape = DetectorShape::kPoint;
        g.center = {geo[0], geo[1]};
      } else {
        FAIL() << "unknown mode " << mode;
      }
      ops.push_back(std::make_unique<VirtualImageOp>(name, g));
      files.push_back(vi["file"]);
    }
    ops.push_back(std::make_unique<CenterOfMassOp>("com", DetectorGeometry{}));
    std::vector<const Operator*> raw;
    for (auto& op : ops) {
      op->start(h);
      raw.push_back(op.get());
    }
    test::TestBatch tb(h, data.data(), 0, static_cast<std::uint32_t>(h.scan_size()), raw);
    for (std::size_t o = 0; o < ops.size(); ++o) ops[o]->process(tb.batch, tb.batch.results[o]);

    auto compare = [&](const std::vector<double>& expect, std::size_t op, std::size_t scalar) {
      ASSERT_EQ(expect.size(), h.scan_size());
      for (std::size_t k = 0; k < expect.size(); ++k) {
        const double got =
            tb.batch.results[op].frame_scalars(static_cast<std::uint32_t>(k))[scalar];
        ASSERT_NEAR(got, expect[k], 1e-9 * std::max(1.0, std::abs(expect[k])))
            << ops[op]->name() << " at " << k;
      }
    };
    for (std::size_t o = 0; o + 1 < ops.size(); ++o) {
      compare(test::read_raw<double>(dir / files[o]), o, 0);
    }
    compare(test::read_raw<double>(dir / "com_qx_float64.raw"), ops.size() - 1, 0);
    compare(test::read_raw<double>(dir / "com_qy_float64.raw"), ops.size() - 1, 1);
  }
}
