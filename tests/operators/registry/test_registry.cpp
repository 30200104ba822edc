// SPDX-License-Identifier: GPL-3.0-or-later
// The operator registry: one entry per type, the schema's operator tables are the registry's, and
// make_operator builds each type from its table with every key in the provenance.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "config/config.hpp"
#include "config/schema.hpp"
#include "operators/registry.hpp"
#include "pipeline/core/expected.hpp"

using namespace stemflow;

// Spec: the schema's operator types are the registry's, in its order, with the same keys.
TEST(Registry, SchemaTablesAreTheRegistrys) {
  const auto types = ops::operator_types();
  const auto tables = config::operator_types();
  ASSERT_EQ(types.size(), tables.size());
  ASSERT_FALSE(types.empty());
  for (std::size_t i = 0; i < types.size(); ++i) {
    EXPECT_EQ(types[i].name, tables[i].name);
    EXPECT_EQ(types[i].description, tables[i].description);
    ASSERT_EQ(types[i].keys.size(), tables[i].keys.size()) << types[i].name;
    for (std::size_t k = 0; k < types[i].keys.size(); ++k) {
      EXPECT_EQ(types[i].keys[k].name, tables[i].keys[k].name);
    }
    EXPECT_NE(types[i].build, nullptr) << types[i].name;
    EXPECT_EQ(ops::find_operator_type(types[i].name), &types[i]);
    EXPECT_EQ(config::find_operator_type(types[i].name), &tables[i]);
  }
  EXPECT_EQ(ops::find_operator_type("no_such_operator"), nullptr);
}

// Spec: every type builds from a configured table into an operator of that type and name; the
// provenance holds every key the table has, or defaults, in the order the type declares them.
TEST(Registry, MakeOperatorBuildsEveryType) {
  const auto config = config::Config::parse(
      "[input]\nendpoint = \"tcp://127.0.0.1:5555\"\n"
      "[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\ndetector = \"circle\"\n"
      "center = [8.0, 8.0]\nradius = 3.0\n"
      "[[operators]]\ntype = \"center_of_mass\"\n"
      "[[operators]]\ntype = \"bragg_disks\"\ntemplate = \"none\"\n"
      "no_template_applies_ifft = false\n"
      "[[operators]]\ntype = \"mean_pattern\"\n"
      "[[operators]]\ntype = \"max_pattern\"\n"
      "[[operators]]\ntype = \"origin\"\nbragg = \"bragg_disks\"\n"
      "[[operators]]\ntype = \"bragg_vector_map\"\nbragg = \"bragg_disks\"\n"
      "origin = \"origin\"\n"
      "[[operators]]\ntype = \"strain_map\"\nbragg = \"bragg_disks\"\n"
      "g1 = [17.9, 2.6]\ng2 = [-5.1, 16.6]\nreference_region = [0, 4, 0, 4]\n"
      "[[operators]]\ntype = \"dpc\"\ncom = \"center_of_mass\"\nrotation = 12.0\n",
      "test.toml");
  std::vector<std::string> built;
  for (const auto& oc : config.operators()) {
    const auto b = ops::make_operator(oc, config);
    ASSERT_NE(b.op, nullptr) << oc.name;
    EXPECT_EQ(b.op->type(), oc.type);
    EXPECT_EQ(b.op->name(), oc.name);
    const auto* type = ops::find_operator_type(oc.type);
    std::vector<std::string> want, got;
    for (const auto& k : type->keys) {
      if (oc.params.has(k.name)) want.emplace_back(k.name);
    }
    for (const auto& [k, v] : b.parameters) got.push_back(k);
    EXPECT_EQ(got, want) << oc.name;
    built.emplace_back(oc.type);
  }
  std::vector<std::string> all;
  for (const auto& t : ops::operator_types()) all.emplace_back(t.name);
  std::sort(built.begin(), built.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(built, all) << "a new operator type needs a case here";
}

// Spec: parameters that are wrong together are a ConfigError naming the file and the operator.
TEST(Registry, WrongParametersNameFileAndOperator) {
  const auto config = config::Config::parse(
      "[input]\nendpoint = \"tcp://127.0.0.1:5555\"\n"
      "[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\ndetector = \"circle\"\n",
      "test.toml");
  try {
    ops::make_operator(config.operators()[0], config);
    FAIL() << "a circle without centre and radius must be a ConfigError";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("test.toml"), std::string::npos) << what;
    EXPECT_NE(what.find("operators.bf"), std::string::npos) << what;
  }
}

// Spec: the dashboard shows the images of exactly the types that give the mean pattern.
TEST(Registry, OnlyMeanPatternGivesTheMeanPattern) {
  for (const auto& t : ops::operator_types()) {
    EXPECT_EQ(t.gives_mean_pattern, t.name == "mean_pattern") << t.name;
  }
}
