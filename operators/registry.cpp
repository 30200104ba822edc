// SPDX-License-Identifier: GPL-3.0-or-later
#include "operators/registry.hpp"

#include <sstream>
#include <vector>

#include "pipeline/core/expected.hpp"

// The operators: one line each, in the order the configuration reference lists them. X(<name>)
// stands for `OperatorType <name>_type()`, defined in operators/<name>/<name>_type.cpp; a list
// macro, so that the one line both declares the entry and lists it (operators/README.md).
#define STEMFLOW_OPERATORS(X) \
  X(virtual_image)            \
  X(bragg_disks)              \
  X(mean_pattern)             \
  X(max_pattern)              \
  X(center_of_mass)           \
  X(origin)                   \
  X(bragg_vector_map)         \
  X(strain_map)               \
  X(dpc)

namespace stemflow::ops {

#define STEMFLOW_DECLARE_TYPE(name) OperatorType name##_type();
STEMFLOW_OPERATORS(STEMFLOW_DECLARE_TYPE)
#undef STEMFLOW_DECLARE_TYPE

namespace {

const std::vector<OperatorType>& types() {
#define STEMFLOW_TYPE_ENTRY(name) name##_type(),
  static const std::vector<OperatorType> kTypes = {STEMFLOW_OPERATORS(STEMFLOW_TYPE_ENTRY)};
#undef STEMFLOW_TYPE_ENTRY
  return kTypes;
}

//! The operators' key tables as the configuration schema sees them (see config/schema.hpp).
std::vector<config::SectionSpec> schema_sections() {
  std::vector<config::SectionSpec> out;
  for (const auto& t : types()) out.push_back({t.name, t.description, t.keys});
  return out;
}

// config/ cannot call the registry (it sits below operators/), so the registry hands it the key
// tables while the program starts. The stemflow_operator_registry target is linked whole
// (operators/CMakeLists.txt), so that this runs even in a program that calls nothing else here.
[[maybe_unused]] const bool kSchemaProvided =
    (config::provide_operator_types(&schema_sections), true);

std::vector<std::pair<std::string, std::string>> describe(const config::OperatorConfig& oc,
                                                          const OperatorType& type) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& k : type.keys) {
    if (!oc.params.has(k.name)) continue;
    std::ostringstream os;
    switch (k.type) {
      case config::KeyType::kString:
        os << oc.params.get_string(k.name);
        break;
      case config::KeyType::kBool:
        os << (oc.params.get_bool(k.name) ? "true" : "false");
        break;
      case config::KeyType::kInt:
        os << oc.params.get_int(k.name);
        break;
      case config::KeyType::kFloat:
        os << oc.params.get_double(k.name);
        break;
      case config::KeyType::kSize:
        os << oc.params.get_size(k.name);
        break;
      case config::KeyType::kFloatArray:
        for (double v : oc.params.get_doubles(k.name)) os << (os.tellp() ? " " : "") << v;
        break;
      case config::KeyType::kIntArray:
        for (auto v : oc.params.get_ints(k.name)) os << (os.tellp() ? " " : "") << v;
        break;
      case config::KeyType::kStringArray:
        for (const auto& v : oc.params.get_strings(k.name)) os << (os.tellp() ? " " : "") << v;
        break;
    }
    out.emplace_back(std::string(k.name), os.str());
  }
  return out;
}

}  // namespace

std::span<const OperatorType> operator_types() { return types(); }

const OperatorType* find_operator_type(std::string_view name) {
  for (const auto& t : types()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

BuiltOperator make_operator(const config::OperatorConfig& oc, const config::Config& config) {
  const OperatorType* type = find_operator_type(oc.type);
  if (type == nullptr || type->build == nullptr) {
    throw ConfigError(oc.params.where() + ": operator type '" + oc.type +
                      "' is not available in this build");
  }
  auto parameters = describe(oc, *type);
  BuiltOperator b = type->build(oc, config);
  parameters.insert(parameters.end(),
                    std::make_move_iterator(b.parameters.begin()),
                    std::make_move_iterator(b.parameters.end()));
  b.parameters = std::move(parameters);
  return b;
}

}  // namespace stemflow::ops
