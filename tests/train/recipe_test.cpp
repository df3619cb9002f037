#include <gtest/gtest.h>

#include "edgetune/core/error.h"
#include "edgetune/train/recipe.h"
#include "test_util.h"

namespace et {
namespace {

using test::error_of;

TEST(Recipe, YamlOverridesDefaults) {
  Recipe r = parse_recipe(R"(
model:
  path: /m
train:
  max_steps: 7
  lr: 1e-3
  seed: 42
adapters:
  policy: gradcut
  targets: [q_proj, v_proj]
  gradcut:
    w_cost: 0.5
data:
  pack: false
)", "r.yaml");
  EXPECT_EQ(r.model.path, "/m");
  EXPECT_EQ(r.train.max_steps, 7);
  EXPECT_DOUBLE_EQ(r.train.lr, 1e-3);
  EXPECT_EQ(r.train.seed, 42);
  EXPECT_EQ(r.adapters.policy, "gradcut");
  EXPECT_EQ(r.adapters.targets, (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_DOUBLE_EQ(r.adapters.gradcut.w_cost, 0.5);
  EXPECT_FALSE(r.data.pack);
  Recipe d;
  EXPECT_EQ(r.train.batch_size, d.train.batch_size);  // untouched keys keep defaults
}

TEST(Recipe, UnknownKeyNamesPathLineAndSuggestion) {
  auto msg = error_of([] { parse_recipe("train:\n  max_steps: 3\n  lrr: 0.1\n", "my.yaml"); });
  EXPECT_NE(msg.find("my.yaml:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'train.lrr'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'train.lr'"), std::string::npos) << msg;
  // A key in the wrong section is found by its last component.
  msg = error_of([] { parse_recipe("data:\n  max_steps: 3\n", "x.yaml"); });
  EXPECT_NE(msg.find("did you mean 'train.max_steps'"), std::string::npos) << msg;
}

TEST(Recipe, WrongTypesAreErrors) {
  auto msg = error_of([] { parse_recipe("train:\n  max_steps: lots\n", "t.yaml"); });
  EXPECT_NE(msg.find("'train.max_steps' expects integer, got 'lots'"), std::string::npos) << msg;
  msg = error_of([] { parse_recipe("train:\n  max_steps: 1.5\n", "t.yaml"); });
  EXPECT_NE(msg.find("train.max_steps"), std::string::npos) << msg;
  msg = error_of([] { parse_recipe("data:\n  pack: maybe\n", "t.yaml"); });
  EXPECT_NE(msg.find("'data.pack' expects boolean"), std::string::npos) << msg;
  msg = error_of([] { parse_recipe("train: 3\n", "t.yaml"); });
  EXPECT_NE(msg.find("'train' is a section"), std::string::npos) << msg;
  msg = error_of([] { parse_recipe("quant:\n  backbone: int3\n", "t.yaml"); });
  EXPECT_NE(msg.find("choose one of: nf4, none"), std::string::npos) << msg;
  msg = error_of([] { parse_recipe("train: [1, 2\n", "t.yaml"); });
  EXPECT_NE(msg.find("invalid YAML"), std::string::npos) << msg;
}

TEST(Recipe, SetOverrides) {
  Recipe r;
  apply_override(r, "train.max_steps=12");
  apply_override(r, "model.path=some/dir");
  apply_override(r, "adapters.targets=[q_proj,k_proj]");
  apply_override(r, "adapters.list=layers.1.*,layers.2.mlp.up_proj");
  apply_override(r, "data.system_prompt=You are: helpful");
  EXPECT_EQ(r.train.max_steps, 12);
  EXPECT_EQ(r.model.path, "some/dir");
  EXPECT_EQ(r.adapters.targets, (std::vector<std::string>{"q_proj", "k_proj"}));
  EXPECT_EQ(r.adapters.list, (std::vector<std::string>{"layers.1.*", "layers.2.mlp.up_proj"}));
  EXPECT_EQ(r.data.system_prompt, "You are: helpful");
  auto msg = error_of([&] { apply_override(r, "train.max_stepz=1"); });
  EXPECT_NE(msg.find("did you mean 'train.max_steps'"), std::string::npos) << msg;
  msg = error_of([&] { apply_override(r, "train.lr"); });
  EXPECT_NE(msg.find("expected key=value"), std::string::npos) << msg;
}

TEST(Recipe, ResolvedYamlRoundTrips) {
  Recipe r;
  apply_override(r, "train.lr=3e-5");
  apply_override(r, "model.path=a b/c: d");
  apply_override(r, "adapters.list=x,y");
  apply_override(r, "train.seed=123456789012");
  Recipe back = parse_recipe(recipe_to_yaml(r), "resolved");
  auto f1 = recipe_fields(r);
  auto f2 = recipe_fields(back);
  ASSERT_EQ(f1.size(), f2.size());
  for (size_t i = 0; i < f1.size(); ++i) {
    std::visit(
        [&](auto* a) {
          using T = std::remove_pointer_t<decltype(a)>;
          EXPECT_EQ(*a, *std::get<T*>(f2[i].value)) << f1[i].key;
        },
        f1[i].value);
  }
}

TEST(Recipe, ValidationNamesTheKey) {
  Recipe r;
  r.train.batch_size = 0;
  EXPECT_NE(error_of([&] { validate_recipe(r); }).find("train.batch_size"), std::string::npos);
  r = Recipe();
  r.adapters.targets = {"q_proj", "qkv"};
  EXPECT_NE(error_of([&] { validate_recipe(r); }).find("'qkv'"), std::string::npos);
  r = Recipe();
  r.adapters.policy = "list";
  EXPECT_NE(error_of([&] { validate_recipe(r); }).find("adapters.list"), std::string::npos);
  r = Recipe();
  r.adapters.gradcut.warmup_fraction = 1;  // the whole run warm: no step would have the cut
  EXPECT_NE(error_of([&] { validate_recipe(r); }).find("adapters.gradcut.warmup_fraction"), std::string::npos);
  EXPECT_NO_THROW(validate_recipe(Recipe()));
}

TEST(Recipe, ExplainDocumentsEveryKey) {
  Recipe r;
  const std::string text = explain_recipe();
  for (auto& f : recipe_fields(r)) {
    EXPECT_NE(text.find("  " + f.key + " ("), std::string::npos) << f.key;
    EXPECT_FALSE(f.help.empty()) << f.key;
  }
}

}  // namespace
}  // namespace et
