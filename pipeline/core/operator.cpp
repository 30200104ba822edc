// SPDX-License-Identifier: GPL-3.0-or-later
#include "pipeline/core/operator.hpp"

#include <cmath>

namespace stemflow {

bool combine_into(SeriesImage& mine, const SeriesImage& other) {
  if (mine.suffix != other.suffix || mine.rows != other.rows || mine.cols != other.cols ||
      mine.combine != other.combine || mine.values.size() != other.values.size()) {
    return false;
  }
  if (mine.combine == Combine::kNone || other.frames == 0) return true;
  if (mine.frames == 0) {
    mine.values = other.values;
    mine.frames = other.frames;
    return true;
  }
  // A weighted mean is not bit for bit the mean of one process (the sums round differently); the
  // sum and the max are exact up to the order of additions.
  const double wa = double(mine.frames), wb = double(other.frames);
  for (std::size_t i = 0; i < mine.values.size(); ++i) {
    double& a = mine.values[i];
    const double b = other.values[i];
    if (std::isnan(b)) continue;
    if (std::isnan(a)) {
      a = b;
      continue;
    }
    switch (mine.combine) {
      case Combine::kSum:
        a += b;
        break;
      case Combine::kMax:
        a = b > a ? b : a;
        break;
      case Combine::kMean:
        a = (a * wa + b * wb) / (wa + wb);
        break;
      case Combine::kNone:
        break;
    }
  }
  mine.frames += other.frames;
  return true;
}

}  // namespace stemflow
