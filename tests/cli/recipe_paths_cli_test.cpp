// A recipe's relative paths are its own: `edgetune train` of a recipe that names its model, data
// and output folder relative to its folder runs the same from any current folder; a relative
// --set path is the user's, resolved against the current folder.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "edgetune/core/file_io.h"
#include "test_util.h"

using et::file_exists;
using et::path_join;
using et::read_text_file;
using et::write_file_atomic;

TEST(RecipePathsCli, RecipeRelativePathsResolveAgainstItsFolderSetPathsAgainstTheCurrentOne) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  const std::string work = et::test::temp_dir("cli-recipe-paths");
  // work/models/stories -> the model, work/data/train.jsonl, work/recipes/r.yaml, work/elsewhere/.
  for (const char* d : {"models", "data", "recipes", "elsewhere"}) et::make_dirs(path_join(work, d));
  ASSERT_EQ(::symlink(model.c_str(), path_join(work, "models/stories").c_str()), 0);
  write_file_atomic(path_join(work, "data/train.jsonl"),
                    read_text_file(path_join(et::test::source_dir(), "data/stories-tools/train.jsonl")));
  write_file_atomic(path_join(work, "recipes/r.yaml"),
                    "model:\n  path: ../models/stories\n  device: cpu\nquant:\n  backbone: none\n"
                    "adapters:\n  policy: all\n  rank: 2\ndata:\n  train: ../data/train.jsonl\n  max_seq_len: 192\n"
                    "train:\n  max_steps: 1\n  batch_size: 2\n  eval_every: 0\n"
                    "output:\n  dir: ../runs/r\n  export_peft: false\n");

  // From an unrelated folder, the recipe given by its absolute path.
  {
    et::test::Background run({"train", path_join(work, "recipes/r.yaml")}, "/", work, "a-");
    ASSERT_EQ(run.wait(300), 0) << run.err();
    EXPECT_EQ(et::test::summary(run.out())["output_dir"].get<std::string>(), path_join(work, "runs/r"));
    EXPECT_TRUE(file_exists(path_join(work, "runs/r/patch.safetensors")));
    // The resolved recipe names absolute paths (it is a record of what ran).
    const std::string resolved = read_text_file(path_join(work, "runs/r/recipe.resolved.yaml"));
    EXPECT_NE(resolved.find(path_join(work, "models/stories")), std::string::npos) << resolved;
  }
  // From elsewhere/, by a relative path to the recipe, with --set paths of the current folder.
  {
    write_file_atomic(path_join(work, "elsewhere/t.jsonl"), read_text_file(path_join(work, "data/train.jsonl")));
    et::test::Background run({"train", "../recipes/r.yaml", "--set", "output.dir=out", "--set", "data.train=t.jsonl"},
                             path_join(work, "elsewhere"), work, "b-");
    ASSERT_EQ(run.wait(300), 0) << run.err();
    EXPECT_TRUE(file_exists(path_join(work, "elsewhere/out/patch.safetensors")));
    EXPECT_FALSE(file_exists(path_join(work, "recipes/out"))) << "--set paths are not the recipe's";
  }
}
