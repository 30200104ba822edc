// SPDX-License-Identifier: GPL-3.0-or-later
// The one declared configuration schema: every key of a stemflow TOML file, with its type, default,
// unit and description. Validation, `stemflow schema` (the reference documentation) and the typed
// getters all read this table, so a key is declared exactly once.
#pragma once

#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stemflow::config {

enum class KeyType {
  kString,
  kBool,
  kInt,          // integer
  kFloat,        // integer or float
  kSize,         // byte count: integer, or string with unit "256MiB", "2GB", "4096"
  kFloatArray,   // array of numbers
  kIntArray,     // array of integers
  kStringArray,  // array of strings; a single string is accepted too
};

std::string_view key_type_name(KeyType t);

//! The values a numeric key (kInt, kFloat, kSize, and each element of kIntArray, kFloatArray)
//! may take. Every numeric value must also be finite: TOML's inf and nan are never meaningful here.
struct Range {
  static constexpr double kInf = std::numeric_limits<double>::infinity();

  double min = -kInf;
  double max = kInf;
  bool min_exclusive = false;  // > min (timeouts, intervals: 0 would end or spin at once)
  bool max_exclusive = false;  // < max

  bool bounded() const { return min > -kInf || max < kInf; }
  bool contains(double v) const {
    return (min_exclusive ? v > min : v >= min) && (max_exclusive ? v < max : v <= max);
  }
  //! ">= 1", "> 0", "1 to 65535", ">= 0, < 1", ">= 1MiB" (sizes): for messages and the reference.
  std::string text(KeyType type) const;
};

//! A check of a string value that a choice list cannot express (e.g. a port number inside
//! "host:port"); returns what is wrong, or an empty string when the value is fine.
using StringCheck = std::string (*)(std::string_view value);

//! One key. `default_value` is TOML text ("" = required, "-" = optional without default).
struct KeySpec {
  std::string_view name;
  KeyType type;
  std::string_view default_value;
  std::string_view unit;
  std::string_view description;
  std::vector<std::string_view> choices = {};  // allowed values for kString, empty = any
  Range range = {};                            // numeric keys: the valid values
  StringCheck check = nullptr;                 // string keys (and each string of an array)
  std::string_view check_text = {};            // what `check` accepts, for the reference
};

//! A table of keys: a top-level section ("input", "outputs.hdf5") or an operator type.
struct SectionSpec {
  std::string_view name;
  std::string_view description;
  std::vector<KeySpec> keys;
};

//! The top-level sections, in documentation order.
std::span<const SectionSpec> sections();
//! The operator types ([[operators]] with `type = ...`). Keys `type` and `name` are common to all.
std::span<const SectionSpec> operator_types();

const SectionSpec* find_section(std::string_view name);
const SectionSpec* find_operator_type(std::string_view type);
const KeySpec* find_key(const SectionSpec& section, std::string_view key);

//! The schema as Markdown, for `stemflow schema` and the README.
std::string schema_markdown();

}  // namespace stemflow::config
