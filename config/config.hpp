// SPDX-License-Identifier: GPL-3.0-or-later
// Loading and validating a stemflow TOML configuration against the schema (config/schema.hpp).
// Every problem is reported with the file, line and key; all problems of a file are reported at
// once.
#pragma once

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/schema.hpp"

namespace stemflow::config {

//! Typed, read-only access to one validated table (a section or one operator). Absent keys read as
//! the schema's default; absent keys without default are `has() == false`.
class Params {
 public:
  Params() = default;
  Params(const SectionSpec* spec, const toml::table* table, std::string file, std::string path);

  bool has(std::string_view key) const;
  std::string get_string(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  std::int64_t get_int(std::string_view key) const;
  double get_double(std::string_view key) const;
  std::size_t get_size(std::string_view key) const;
  std::vector<double> get_doubles(std::string_view key) const;
  std::vector<std::int64_t> get_ints(std::string_view key) const;
  std::vector<std::string> get_strings(std::string_view key) const;
  //! Exactly N numbers (a centre, radii, bounds); ConfigError naming the key otherwise.
  template <std::size_t N>
  std::array<double, N> get_doubles_n(std::string_view key) const {
    const auto v = get_doubles(key);
    if (v.size() != N) {
      throw_count_error(key, N, v.size());
    }
    std::array<double, N> a{};
    std::copy(v.begin(), v.end(), a.begin());
    return a;
  }

  //! "file.toml:12: operators.bf.radius" (or the section when the key is absent), for error
  //! messages.
  std::string where(std::string_view key = {}) const;
  const std::string& path() const { return path_; }

 private:
  const toml::node* node_or_default(std::string_view key) const;
  const KeySpec& spec_of(std::string_view key) const;
  [[noreturn]] void throw_count_error(std::string_view key,
                                      std::size_t want,
                                      std::size_t got) const;

  const SectionSpec* spec_ = nullptr;
  const toml::table* table_ = nullptr;
  std::string file_;
  std::string path_;
  // Defaults parsed from the schema's TOML text, owned here so node pointers stay valid.
  std::shared_ptr<toml::table> defaults_;
};

struct OperatorConfig {
  std::string type;
  std::string name;
  Params params;
};

//! A loaded configuration. Owns the TOML tree that the Params point into.
class Config {
 public:
  //! Parses `path`, applies `--set key=value` overrides, validates. Throws ConfigError listing
  //! every problem (file:line: key: message).
  static Config load(const std::string& path, const std::vector<std::string>& overrides = {});
  //! The same from TOML text (tests); `name` stands for the file in messages.
  static Config parse(std::string_view text,
                      const std::string& name,
                      const std::vector<std::string>& overrides = {});

  Params section(std::string_view name) const;    // always valid (defaults when absent)
  bool has_section(std::string_view name) const;  // present in the file (outputs.* enable sinks)
  const std::vector<OperatorConfig>& operators() const { return operators_; }

  //! The effective configuration (after overrides) as TOML text, for provenance.
  std::string effective_toml() const;
  //! Directory of the configuration file: relative paths inside it are resolved against this.
  const std::filesystem::path& base_dir() const { return base_dir_; }
  const std::string& file() const { return file_; }

 private:
  Config() = default;
  void build(const std::vector<std::string>& overrides);

  std::string file_;
  std::filesystem::path base_dir_;
  std::shared_ptr<toml::table> root_;
  std::vector<OperatorConfig> operators_;
};

//! Parses a byte size: an integer, or a number with unit B, kB, MB, GB, TB, KiB, MiB, GiB, TiB.
std::optional<std::size_t> parse_size(std::string_view text);

//! Validates a parsed tree; returns one message per problem (empty = valid).
std::vector<std::string> validate(const toml::table& root, const std::string& file);

}  // namespace stemflow::config
