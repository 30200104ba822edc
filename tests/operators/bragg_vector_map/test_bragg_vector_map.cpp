// SPDX-License-Identifier: GPL-3.0-or-later
// bragg_vector_map: bilinear weights as py4DSTEM's histogram, off-grid peaks left out, the origin
// shift, and the live map. The comparison with py4DSTEM's map on the reference data is in
// tests/operators/strain_map/test_strain_reference.cpp (one workflow).
#include <gtest/gtest.h>

#include <cmath>

#include "operators/bragg_vector_map/bragg_vector_map.hpp"
#include "tests/support/physics_engine.hpp"

using namespace stemflow;

// Spec: a peak at (qx, qy) puts I (1 - dx)(1 - dy) on (floor qx, floor qy), I (1 - dx) dy on
// (floor, ceil), I dx (1 - dy) on (ceil, floor) and I dx dy on (ceil, ceil); a peak whose ceil is
// off the grid is left out (as py4DSTEM), one at an integer position puts all of I on its bin.
TEST(BraggVectorMap, BilinearWeights) {
  std::vector<double> hist(8 * 8, 0.0);
  const std::vector<Peak> peaks{{2.25, 3.5, 8.0}, {7.5, 1.0, 100.0}, {5.0, 6.0, 2.0}};
  ops::BraggVectorMapOp::accumulate(hist, 8, 8, 1.0, peaks, 0.0, 0.0);
  EXPECT_DOUBLE_EQ(hist[2 * 8 + 3], 8 * 0.75 * 0.5);
  EXPECT_DOUBLE_EQ(hist[2 * 8 + 4], 8 * 0.75 * 0.5);
  EXPECT_DOUBLE_EQ(hist[3 * 8 + 3], 8 * 0.25 * 0.5);
  EXPECT_DOUBLE_EQ(hist[3 * 8 + 4], 8 * 0.25 * 0.5);
  EXPECT_DOUBLE_EQ(hist[5 * 8 + 6], 2.0);
  double total = 0;
  for (double v : hist) total += v;
  EXPECT_DOUBLE_EQ(total, 10.0);  // the peak at qx = 7.5 (ceil 8) is off the 8-bin grid
}

// Spec: through the engine, each frame's peaks are shifted by its origin to `center`: frames
// whose lattice drifts accumulate on the same bins; the live map is there during the scan; with
// the origin's fit the final map is centred on the mean fitted origin.
TEST(BraggVectorMap, OriginShiftLiveAndFinal) {
  SeriesHeader h;
  h.scan_rows = 4;
  h.scan_cols = 4;
  h.frame_rows = h.frame_cols = 32;
  test::PeakTable peaks(h.scan_size());
  for (std::size_t i = 0; i < h.scan_size(); ++i) {
    const double d = 0.25 * double(i % 4);  // a drift along ry: a plane
    peaks[i] = {{16.0 + d, 15.0, 100.0}, {20.0 + d, 18.0, 10.0}};
  }
  std::vector<std::unique_ptr<Operator>> first;
  first.push_back(std::make_unique<test::RecordedBraggOp>("bragg", peaks));
  auto ops = test::build_operators(
      "[[operators]]\ntype = \"origin\"\nname = \"o\"\nbragg = \"bragg\"\n"
      "[[operators]]\ntype = \"bragg_vector_map\"\nname = \"bvm\"\nbragg = \"bragg\"\n"
      "origin = \"o\"\n",
      std::move(first));
  const auto c = test::run_engine(std::move(ops), h, nullptr, 4, 1e-9);
  ASSERT_TRUE(c.last_live.count("bvm_"));
  const auto& live = c.last_live.at("bvm_").values;
  // Live: the origin at the frame's centre (16, 16): every frame's second peak at (20, 19).
  EXPECT_DOUBLE_EQ(live[16 * 32 + 16], 16 * 100.0);
  EXPECT_DOUBLE_EQ(live[20 * 32 + 19], 16 * 10.0);
  // Final: centred on the mean fitted origin (16.375, 15): bilinear over (16, 17) x 15.
  const auto& fin = c.images.at("bvm");
  EXPECT_EQ(fin.space, ImageSpace::kDiffraction);
  EXPECT_NEAR(fin.values[16 * 32 + 15], 16 * 100.0 * 0.625, 1e-9);
  EXPECT_NEAR(fin.values[17 * 32 + 15], 16 * 100.0 * 0.375, 1e-9);
  EXPECT_NEAR(fin.values[20 * 32 + 18], 16 * 10.0 * 0.625, 1e-9);
}
