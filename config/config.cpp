// SPDX-License-Identifier: GPL-3.0-or-later
#include "config/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "pipeline/core/expected.hpp"

namespace stemflow::config {

namespace {

std::string location(const toml::source_region& src, const std::string& file) {
  if (src.begin.line == 0) return "--set";
  return file + ":" + std::to_string(src.begin.line);
}

std::string describe_node(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a bool";
    default:
      return "a date/time";
  }
}

bool is_number(const toml::node& n) { return n.is_integer() || n.is_floating_point(); }

bool array_all(const toml::node& n, bool (*pred)(const toml::node&)) {
  const auto* a = n.as_array();
  if (a == nullptr) return false;
  return std::all_of(a->begin(), a->end(), [&](const toml::node& e) { return pred(e); });
}

bool matches_type(const toml::node& n, KeyType t) {
  switch (t) {
    case KeyType::kString:
      return n.is_string();
    case KeyType::kBool:
      return n.is_boolean();
    case KeyType::kInt:
      return n.is_integer();
    case KeyType::kFloat:
      return is_number(n);
    case KeyType::kSize:
      return n.is_integer() || (n.is_string() && parse_size(*n.value<std::string>()).has_value());
    case KeyType::kFloatArray:
      return array_all(n, &is_number);
    case KeyType::kIntArray:
      return array_all(n, [](const toml::node& e) { return e.is_integer(); });
    case KeyType::kStringArray:
      return n.is_string() || array_all(n, [](const toml::node& e) { return e.is_string(); });
  }
  return false;
}

std::string number_text(double v) {
  std::ostringstream os;
  os.precision(15);
  os << v;
  return os.str();
}

//! One number of a key (the key itself, or an element of an array) against the key's range.
//! Returns what is wrong, or an empty string.
std::string range_problem(const toml::node& n, const KeySpec& ks) {
  double v = 0;
  std::string shown;
  if (n.is_integer()) {
    v = static_cast<double>(*n.value<std::int64_t>());
    shown = std::to_string(*n.value<std::int64_t>());
  } else if (n.is_floating_point()) {
    v = *n.value<double>();
    shown = number_text(v);
    if (!std::isfinite(v)) return "is " + shown + ", must be a finite number";
  } else if (n.is_string()) {  // a size with a unit
    v = static_cast<double>(*parse_size(*n.value<std::string>()));
    shown = "\"" + *n.value<std::string>() + "\" (" + number_text(v) + " bytes)";
  } else {
    return "";
  }
  if (ks.range.contains(v)) return "";
  return "is " + shown + ", must be " + ks.range.text(ks.type);
}

//! The value of a key of the right type against its range or string check; appends the problems.
void check_value(const toml::node& node,
                 const KeySpec& ks,
                 const std::string& full,
                 const std::string& where,
                 std::vector<std::string>& errors) {
  const std::string prefix = where + ": key '" + full + "' ";
  if (const auto* arr = node.as_array()) {
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const auto& e = *arr->get(i);
      std::string problem;
      if (!e.is_string()) {
        problem = range_problem(e, ks);
      } else if (ks.check != nullptr) {
        const std::string v = *e.value<std::string>();
        const std::string why = ks.check(v);
        if (!why.empty()) problem = "is \"" + v + "\": " + why;
      }
      if (!problem.empty()) {
        errors.push_back(prefix + "element " + std::to_string(i + 1) + " " + problem);
      }
    }
    if (arr->empty() && ks.type == KeyType::kStringArray) errors.push_back(prefix + "is empty");
    return;
  }
  if (node.is_string() && ks.check != nullptr) {
    const std::string v = *node.value<std::string>();
    const std::string problem = ks.check(v);
    if (!problem.empty()) errors.push_back(prefix + "is \"" + v + "\": " + problem);
    return;
  }
  const std::string problem = range_problem(node, ks);
  if (!problem.empty()) errors.push_back(prefix + problem);
}

//! Closest schema key by edit distance, for "did you mean" hints.
std::string suggestion(std::string_view key, const std::vector<std::string_view>& known) {
  auto dist = [](std::string_view a, std::string_view b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
      }
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  std::string best;
  std::size_t best_d = 3;  // only suggest close matches
  for (auto k : known) {
    const auto d = dist(key, k);
    if (d < best_d) {
      best_d = d;
      best = std::string(k);
    }
  }
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

void validate_table(const toml::table& tbl,
                    const SectionSpec& spec,
                    const std::string& path,
                    const std::string& file,
                    std::vector<std::string>& errors,
                    const std::set<std::string_view>& extra_keys = {}) {
  std::vector<std::string_view> known;
  for (const auto& k : spec.keys) known.push_back(k.name);
  for (auto k : extra_keys) known.push_back(k);
  for (auto&& [key, node] : tbl) {
    const std::string full = path + "." + std::string(key.str());
    if (extra_keys.count(key.str())) continue;
    const KeySpec* ks = find_key(spec, key.str());
    if (ks == nullptr) {
      errors.push_back(location(key.source(), file) + ": unknown key '" + full + "'" +
                       suggestion(key.str(), known));
      continue;
    }
    if (!matches_type(node, ks->type)) {
      errors.push_back(location(node.source(), file) + ": key '" + full + "' must be " +
                       std::string(key_type_name(ks->type)) + ", got " + describe_node(node));
      continue;
    }
    check_value(node, *ks, full, location(node.source(), file), errors);
    if (!ks->choices.empty()) {
      const std::string v = *node.value<std::string>();
      if (std::find(ks->choices.begin(), ks->choices.end(), v) == ks->choices.end()) {
        std::string list;
        for (auto c : ks->choices) list += (list.empty() ? "" : ", ") + std::string(c);
        errors.push_back(location(node.source(), file) + ": key '" + full + "' is \"" + v +
                         "\", expected one of: " + list);
      }
    }
  }
  for (const auto& k : spec.keys) {
    if (k.default_value.empty() && !tbl.contains(k.name)) {
      errors.push_back(location(tbl.source(), file) + ": required key '" + path + "." +
                       std::string(k.name) + "' is missing");
    }
  }
}

}  // namespace

std::optional<std::size_t> parse_size(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  double number = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, number);
  if (ec != std::errc() || number < 0) return std::nullopt;
  std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  static const std::map<std::string_view, double> kUnits = {{"", 1.0},
                                                            {"B", 1.0},
                                                            {"kB", 1e3},
                                                            {"KB", 1e3},
                                                            {"MB", 1e6},
                                                            {"GB", 1e9},
                                                            {"TB", 1e12},
                                                            {"KiB", 1024.0},
                                                            {"MiB", 1048576.0},
                                                            {"GiB", 1073741824.0},
                                                            {"TiB", 1099511627776.0}};
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) return std::nullopt;
  return static_cast<std::size_t>(std::llround(number * it->second));
}

//! The rules of `spec` on `tbl` (null: the table is absent), reported at `where`.
void check_rules(const toml::table* tbl,
                 const SectionSpec& spec,
                 const std::string& path,
                 const std::string& where,
                 std::vector<std::string>& errors) {
  const auto has = [&](std::string_view k) { return tbl != nullptr && tbl->contains(k); };
  const auto full = [&](std::string_view k) { return path + "." + std::string(k); };
  for (const auto& rule : spec.rules) {
    std::vector<std::string_view> given;
    for (auto k : rule.keys) {
      if (has(k)) given.push_back(k);
    }
    if (rule.kind == Rule::Kind::kAtMostOne) {
      if (given.size() > 1) {
        std::string keys;
        for (std::size_t i = 0; i < given.size(); ++i) {
          keys += (i == 0 ? "" : i + 1 == given.size() ? " or " : ", ") + full(given[i]);
        }
        errors.push_back(where + ": give either " + keys + ", not both");
      }
      continue;
    }
    // kOneRequired, when the selecting key (or its default) has the rule's value.
    std::string value;
    if (tbl != nullptr && (*tbl)[rule.when_key].is_string()) {
      value = *(*tbl)[rule.when_key].value<std::string>();
    } else if (const KeySpec* ks = find_key(spec, rule.when_key)) {
      value = std::string(ks->default_value);
      if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
    }
    if (value != rule.when_value || !given.empty()) continue;
    std::string keys = "'" + full(rule.keys.front()) + "'";
    for (std::size_t i = 1; i < rule.keys.size(); ++i) keys += " (or '" + full(rule.keys[i]) + "')";
    errors.push_back(where + ": required key " + keys + " is missing" +
                     (rule.why.empty() ? "" : ": " + std::string(rule.why)));
  }
}

std::vector<std::string> validate(const toml::table& root, const std::string& file) {
  std::vector<std::string> errors;
  for (auto&& [key, node] : root) {
    const std::string k(key.str());
    if (k == "operators") {
      const auto* arr = node.as_array();
      if (arr == nullptr || !arr->is_array_of_tables()) {
        errors.push_back(location(node.source(), file) +
                         ": 'operators' must be an array of tables ([[operators]])");
        continue;
      }
      std::set<std::string> names;
      for (std::size_t i = 0; i < arr->size(); ++i) {
        const auto& op = *arr->get(i)->as_table();
        const std::string where = location(op.source(), file);
        const auto type = op["type"].value<std::string>();
        if (!type) {
          errors.push_back(where + ": operators[" + std::to_string(i) +
                           "] needs a string key 'type'");
          continue;
        }
        const SectionSpec* spec = find_operator_type(*type);
        if (spec == nullptr) {
          std::vector<std::string_view> types;
          for (const auto& s : operator_types()) types.push_back(s.name);
          errors.push_back(location(op["type"].node()->source(), file) +
                           ": unknown operator type '" + *type + "'" + suggestion(*type, types));
          continue;
        }
        const auto* name_node = op.get("name");
        std::string name = *type;
        if (name_node != nullptr) {
          if (!name_node->is_string() || name_node->value<std::string>()->empty()) {
            errors.push_back(location(name_node->source(), file) +
                             ": operator 'name' must be a non-empty string");
          } else {
            name = *name_node->value<std::string>();
          }
        }
        if (!names.insert(name).second) {
          errors.push_back(where + ": operator name '" + name +
                           "' is used twice; give each operator a unique 'name'");
        }
        validate_table(op, *spec, "operators." + name, file, errors, {"type", "name"});
      }
      continue;
    }
    if (k == "outputs") {
      const auto* outs = node.as_table();
      if (outs == nullptr) {
        errors.push_back(location(node.source(), file) + ": 'outputs' must be a table");
        continue;
      }
      for (auto&& [sub, subnode] : *outs) {
        const std::string path = "outputs." + std::string(sub.str());
        const SectionSpec* spec = find_section(path);
        if (spec == nullptr) {
          errors.push_back(
              location(sub.source(), file) + ": unknown section '[" + path + "]'" +
              suggestion(path, {"outputs.hdf5", "outputs.metrics", "outputs.dashboard"}));
          continue;
        }
        if (!subnode.is_table()) {
          errors.push_back(location(subnode.source(), file) + ": '" + path + "' must be a table");
          continue;
        }
        validate_table(*subnode.as_table(), *spec, path, file, errors);
      }
      continue;
    }
    const SectionSpec* spec = find_section(k);
    if (spec == nullptr || k.rfind("outputs.", 0) == 0) {
      errors.push_back(location(key.source(), file) + ": unknown section '" + k + "'" +
                       suggestion(k, {"input", "scan", "pipeline", "operators", "outputs"}));
      continue;
    }
    if (!node.is_table()) {
      errors.push_back(location(node.source(), file) + ": '" + k + "' must be a table ([" + k +
                       "])");
      continue;
    }
    validate_table(*node.as_table(), *spec, k, file, errors);
  }
  // Cross-key rules, declared in the schema beside the keys: also for sections absent from the
  // file (an empty configuration has no input, and must not pass as a valid one).
  for (const auto& spec : sections()) {
    if (spec.rules.empty()) continue;
    const auto* tbl = root[spec.name].as_table();
    check_rules(tbl,
                spec,
                std::string(spec.name),
                tbl != nullptr ? location(tbl->source(), file) : file,
                errors);
  }
  return errors;
}

// ---- Params ------------------------------------------------------------------------------------

Params::Params(const SectionSpec* spec,
               const toml::table* table,
               std::string file,
               std::string path)
    : spec_(spec), table_(table), file_(std::move(file)), path_(std::move(path)) {
  defaults_ = std::make_shared<toml::table>();
  if (spec_ == nullptr) return;
  for (const auto& k : spec_->keys) {
    if (k.default_value.empty() || k.default_value == "-") continue;
    auto parsed = toml::parse("v = " + std::string(k.default_value));
    parsed.get("v")->visit([&](auto&& n) { defaults_->insert_or_assign(k.name, n); });
  }
}

const KeySpec& Params::spec_of(std::string_view key) const {
  const KeySpec* ks = spec_ ? find_key(*spec_, key) : nullptr;
  if (ks == nullptr) {
    throw std::logic_error("config key '" + path_ + "." + std::string(key) +
                           "' is not in the schema");
  }
  return *ks;
}

const toml::node* Params::node_or_default(std::string_view key) const {
  spec_of(key);
  if (table_ != nullptr) {
    if (const auto* n = table_->get(key)) return n;
  }
  return defaults_->get(key);
}

bool Params::has(std::string_view key) const { return node_or_default(key) != nullptr; }

void Params::throw_count_error(std::string_view key, std::size_t want, std::size_t got) const {
  throw ConfigError(where(key) + ": needs " + std::to_string(want) + " numbers, got " +
                    std::to_string(got));
}

std::string Params::where(std::string_view key) const {
  const toml::node* n = (table_ != nullptr && !key.empty()) ? table_->get(key) : nullptr;
  std::string loc;
  if (n != nullptr) {
    loc = location(n->source(), file_);
  } else if (table_ != nullptr) {
    loc = location(table_->source(), file_);
  } else {
    loc = file_;
  }
  return loc + ": " + path_ + (key.empty() ? "" : "." + std::string(key));
}

namespace {
[[noreturn]] void missing(const Params& p, std::string_view key) {
  throw ConfigError(p.where(key) + ": required key is missing");
}
}  // namespace

std::string Params::get_string(std::string_view key) const {
  const auto* n = node_or_default(key);
  if (n == nullptr) missing(*this, key);
  return *n->value<std::string>();
}
bool Params::get_bool(std::string_view key) const {
  const auto* n = node_or_default(key);
  if (n == nullptr) missing(*this, key);
  return *n->value<bool>();
}
std::int64_t Params::get_int(std::string_view key) const {
  const auto* n = node_or_default(key);
  if (n == nullptr) missing(*this, key);
  return *n->value<std::int64_t>();
}
double Params::get_double(std::string_view key) const {
  const auto* n = node_or_default(key);
  if (n == nullptr) missing(*this, key);
  return *n->value<double>();
}
std::size_t Params::get_size(std::string_view key) const {
  const auto* n = node_or_default(key);
  if (n == nullptr) missing(*this, key);
  if (n->is_integer()) return static_cast<std::size_t>(*n->value<std::int64_t>());
  return *parse_size(*n->value<std::string>());
}
std::vector<double> Params::get_doubles(std::string_view key) const {
  const auto* n = node_or_default(key);
  if (n == nullptr) missing(*this, key);
  std::vector<double> out;
  for (const auto& e : *n->as_array()) out.push_back(*e.value<double>());
  return out;
}
std::vector<std::int64_t> Params::get_ints(std::string_view key) const {
  const auto* n = node_or_default(key);
  if (n == nullptr) missing(*this, key);
  std::vector<std::int64_t> out;
  for (const auto& e : *n->as_array()) out.push_back(*e.value<std::int64_t>());
  return out;
}
std::vector<std::string> Params::get_strings(std::string_view key) const {
  const auto* n = node_or_default(key);
  if (n == nullptr) missing(*this, key);
  if (n->is_string()) return {*n->value<std::string>()};
  std::vector<std::string> out;
  for (const auto& e : *n->as_array()) out.push_back(*e.value<std::string>());
  return out;
}

// ---- Config ------------------------------------------------------------------------------------

namespace {

//! Applies one "a.b.c=value" override. `operators.<name>.<key>` addresses an operator by name.
void apply_override(toml::table& root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError("--set '" + assignment + "': expected key=value");
  }
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    // Not a TOML value: take it as a plain string (paths, endpoints).
    parsed.insert_or_assign("v", value);
  }
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  toml::table* tbl = &root;
  std::size_t i = 0;
  if (parts.size() >= 3 && parts[0] == "operators") {
    auto* arr = root["operators"].as_array();
    tbl = nullptr;
    if (arr != nullptr) {
      for (auto& op : *arr) {
        auto* t = op.as_table();
        if (t == nullptr) continue;
        const std::string name = (*t)["name"].value_or((*t)["type"].value_or(std::string()));
        if (name == parts[1]) tbl = t;
      }
    }
    if (tbl == nullptr)
      throw ConfigError("--set " + key + ": no operator named '" + parts[1] + "'");
    i = 2;
  }
  for (; i + 1 < parts.size(); ++i) {
    auto* next = (*tbl)[parts[i]].as_table();
    if (next == nullptr) {
      tbl->insert_or_assign(parts[i], toml::table{});
      next = (*tbl)[parts[i]].as_table();
    }
    tbl = next;
  }
  parsed.get("v")->visit([&](auto&& n) { tbl->insert_or_assign(parts.back(), n); });
}

}  // namespace

Config Config::load(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open configuration file");
  std::stringstream ss;
  ss << in.rdbuf();
  Config c = parse(ss.str(), path, overrides);
  c.base_dir_ = std::filesystem::absolute(path).parent_path();
  return c;
}

Config Config::parse(std::string_view text,
                     const std::string& name,
                     const std::vector<std::string>& overrides) {
  Config c;
  c.file_ = name;
  c.base_dir_ = std::filesystem::current_path();
  try {
    c.root_ = std::make_shared<toml::table>(toml::parse(text, name));
  } catch (const toml::parse_error& e) {
    throw ConfigError(name + ":" + std::to_string(e.source().begin.line) + ": " +
                      std::string(e.description()));
  }
  c.build(overrides);
  return c;
}

void Config::build(const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) apply_override(*root_, o);
  const auto errors = validate(*root_, file_);
  if (!errors.empty()) {
    std::string msg = "invalid configuration (" + std::to_string(errors.size()) + " problem" +
                      (errors.size() > 1 ? "s" : "") + "):";
    for (const auto& e : errors) msg += "\n  " + e;
    throw ConfigError(msg);
  }
  if (const auto* arr = (*root_)["operators"].as_array()) {
    for (const auto& node : *arr) {
      const auto& t = *node.as_table();
      OperatorConfig oc;
      oc.type = *t["type"].value<std::string>();
      oc.name = t["name"].value_or(oc.type);
      oc.params = Params(find_operator_type(oc.type), &t, file_, "operators." + oc.name);
      operators_.push_back(std::move(oc));
    }
  }
}

bool Config::has_section(std::string_view name) const { return root_->at_path(name).is_table(); }

Params Config::section(std::string_view name) const {
  const SectionSpec* spec = find_section(name);
  if (spec == nullptr) throw std::logic_error("no config section '" + std::string(name) + "'");
  return Params(spec, root_->at_path(name).as_table(), file_, std::string(name));
}

std::string Config::effective_toml() const {
  std::ostringstream os;
  os << *root_;
  return os.str();
}

}  // namespace stemflow::config
