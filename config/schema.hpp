// SPDX-License-Identifier: GPL-3.0-or-later
// The one declared configuration schema: every key of a stemflow TOML file, with its type, default,
// unit and description. Validation, `stemflow schema` (the reference documentation) and the typed
// getters all read this table, so a key is declared exactly once: the sections' keys here, each
// operator type's keys in its folder (operators/README.md), handed in by the operator registry.
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

// The ranges numeric keys use (here and in the operators' key tables). Integer keys that the engine
// stores in an int or a 32-bit count also get an upper bound, so that a typo cannot wrap around in
// the conversion.
inline Range at_least(double v) { return Range{.min = v}; }
inline Range above(double v) { return Range{.min = v, .min_exclusive = true}; }
inline Range between(double lo, double hi) { return Range{.min = lo, .max = hi}; }
//! Timeouts and intervals: 0 would end a series or a batch at once, or spin.
inline Range positive() { return above(0); }

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

//! A rule across the keys of one table, declared beside them and checked by the loader for
//! `validate` and `run` alike (a single key's type and range cannot express it).
struct Rule {
  enum class Kind {
    kAtMostOne,   // at most one of `keys` is given
    kOneRequired  // at least one of `keys` is given, when `when_key` has the value `when_value`
  };
  Kind kind;
  std::vector<std::string_view> keys;
  std::string_view when_key = {};  // kOneRequired: the selecting key (its default if absent)
  std::string_view when_value = {};
  std::string_view why = {};  // what the rule is for, appended to the message
};

//! A table of keys: a top-level section ("input", "outputs.hdf5") or an operator type.
struct SectionSpec {
  std::string_view name;
  std::string_view description;
  std::vector<KeySpec> keys;
  std::vector<Rule> rules = {};
};

//! The top-level sections, in documentation order.
std::span<const SectionSpec> sections();
//! The operator types ([[operators]] with `type = ...`). Keys `type` and `name` are common to all.
//! Empty unless a provider was given (provide_operator_types).
std::span<const SectionSpec> operator_types();

//! Where the operator types' key tables come from. Each operator declares its keys in its own
//! folder and operators/registry.cpp lists them; config/ sits below operators/ in the layering and
//! names none of them, so the registry hands its list in through this one function pointer, set by
//! a static initialiser of the registry (which every program that reads operators links whole). A
//! function pointer rather than a table, because it is only called on first use, after main()
//! started: the order of static initialisation cannot matter. The alternative, passing the tables
//! to every parse, validate and reference call, would make each caller (tests included) gather
//! them.
using OperatorTypesProvider = std::vector<SectionSpec> (*)();
void provide_operator_types(OperatorTypesProvider provider);

const SectionSpec* find_section(std::string_view name);
const SectionSpec* find_operator_type(std::string_view type);
const KeySpec* find_key(const SectionSpec& section, std::string_view key);

//! The schema as Markdown, for `stemflow schema` and the README.
std::string schema_markdown();

}  // namespace stemflow::config
