#include <gtest/gtest.h>

#include <unistd.h>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/paths.h"
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

// Sections nested three deep, each key read through a YAML iterator (fuzz/fuzz_recipe.cpp found a
// reference to an iterator's temporary here under ASan; scripts/test.sh --sanitize runs this).
TEST(Recipe, NestedSectionsReadEveryKey) {
  Recipe r = parse_recipe("adapters:\n  gradcut:\n    w_cost: 0.25\n    keep_mlp: 0.5\n  rank: 3\n"
                          "train:\n  lr: 0.5\n",
                          "nested.yaml");
  EXPECT_DOUBLE_EQ(r.adapters.gradcut.w_cost, 0.25);
  EXPECT_DOUBLE_EQ(r.adapters.gradcut.keep_mlp, 0.5);
  EXPECT_EQ(r.adapters.rank, 3);
  EXPECT_DOUBLE_EQ(r.train.lr, 0.5);
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

// Relative paths in a recipe file are the recipe's: they resolve against its folder, wherever the
// command runs; --set values are the user's, typed where they stand: against the current folder.
TEST(Recipe, RelativePathsResolveAgainstTheRecipesFolder) {
  const std::string dir = test::temp_dir("recipe-paths");
  const std::string sub = path_join(dir, "recipes");
  make_dirs(sub);
  const std::string file = path_join(sub, "r.yaml");
  write_file_atomic(file,
                    "model:\n  path: ../models/m\ndata:\n  train: train.jsonl\n  eval: /abs/eval.jsonl\n"
                    "  system_prompt: ../not/a/path\noutput:\n  dir: ../runs/x\n");
  Recipe r = load_recipe(file);
  EXPECT_EQ(r.model.path, path_join(dir, "models/m"));
  EXPECT_EQ(r.data.train, path_join(sub, "train.jsonl"));
  EXPECT_EQ(r.data.eval, "/abs/eval.jsonl");
  EXPECT_EQ(r.data.system_prompt, "../not/a/path") << "only path keys resolve";
  EXPECT_EQ(r.output.dir, path_join(dir, "runs/x"));
  EXPECT_EQ(r.adapters.plan, "") << "an unset path stays unset";
  // The same from another current folder: the same absolute paths.
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(::chdir("/"), 0);
  Recipe again = load_recipe(file.substr(1));  // "/tmp/..." as the relative "tmp/..." from /
  ASSERT_EQ(::chdir(cwd), 0);
  EXPECT_EQ(again.model.path, r.model.path);
  EXPECT_EQ(again.data.train, r.data.train);
  // --set paths (and defaults) against the current folder, after the file's.
  apply_override(r, "data.train=mine.jsonl");
  apply_override(r, "adapters.plan=../p/plan.json");
  absolutize_recipe_paths(r);
  EXPECT_EQ(r.data.train, absolute_path("mine.jsonl"));
  EXPECT_EQ(r.adapters.plan, absolute_path("../p/plan.json"));
  EXPECT_EQ(r.model.path, path_join(dir, "models/m")) << "already absolute";
  Recipe d;
  absolutize_recipe_paths(d);
  EXPECT_EQ(d.output.dir, absolute_path("runs/edgetune"));
  // A text parsed without a folder (a patch's stored recipe) keeps its paths as written.
  EXPECT_EQ(parse_recipe("model:\n  path: rel/m\n", "stored").model.path, "rel/m");
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
