// SPDX-License-Identifier: GPL-3.0-or-later
// The one declared configuration schema: every key of a stemflow TOML file, with its type, default,
// unit and description. Validation, `stemflow schema` (the reference documentation) and the typed
// getters all read this table, so a key is declared exactly once.
#pragma once

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

//! One key. `default_value` is TOML text ("" = required, "-" = optional without default).
struct KeySpec {
  std::string_view name;
  KeyType type;
  std::string_view default_value;
  std::string_view unit;
  std::string_view description;
  std::vector<std::string_view> choices = {};  // allowed values for kString, empty = any
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
