// SPDX-License-Identifier: GPL-3.0-or-later
#include "pipeline/core/operator.hpp"

#include <algorithm>
#include <cmath>

#include "pipeline/core/expected.hpp"

namespace stemflow {

namespace {

std::string prefix(const OperatorInput& in, const Operator& op) {
  return (in.where.empty() ? "operator '" + op.name() + "': " + in.key : in.where) + ": ";
}

}  // namespace

void link_operator_inputs(const std::vector<std::unique_ptr<Operator>>& ops) {
  for (std::size_t o = 0; o < ops.size(); ++o) {
    std::vector<std::size_t> indices;
    for (const auto& in : ops[o]->inputs()) {
      const auto it =
          std::find_if(ops.begin(), ops.end(), [&](const auto& p) { return p->name() == in.name; });
      if (it == ops.end()) {
        throw ConfigError(prefix(in, *ops[o]) + "no operator is named '" + in.name +
                          "'; it needs the name of a '" + in.type + "' operator");
      }
      const auto i = static_cast<std::size_t>(it - ops.begin());
      if ((*it)->type() != in.type) {
        throw ConfigError(prefix(in, *ops[o]) + "'" + in.name + "' is a '" +
                          std::string((*it)->type()) + "' operator; it needs a '" + in.type +
                          "' operator");
      }
      // Earlier only: the order of [[operators]] is the order of computation, and no cycle can
      // be written.
      if (i >= o) {
        throw ConfigError(prefix(in, *ops[o]) + "'" + in.name + "' must come before '" +
                          ops[o]->name() + "' in [[operators]]");
      }
      indices.push_back(i);
    }
    ops[o]->bind_inputs(std::move(indices));
  }
}

std::vector<std::vector<std::size_t>> dependency_levels(
    const std::vector<std::unique_ptr<Operator>>& ops) {
  std::vector<std::size_t> level(ops.size(), 0);
  std::vector<std::vector<std::size_t>> out;
  for (std::size_t o = 0; o < ops.size(); ++o) {
    for (std::size_t i : ops[o]->input_indices()) level[o] = std::max(level[o], level[i] + 1);
    if (out.size() <= level[o]) out.resize(level[o] + 1);
    out[level[o]].push_back(o);
  }
  return out;
}

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
