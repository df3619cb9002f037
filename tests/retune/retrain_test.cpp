// Retuning on a budget (stories260K, a few steps): with a GradCut recipe the plan is made again
// on the new base and the run starts from the old patch where the plans agree; the patch written
// loads on the new base without --force and its held-out loss is no worse than the old patch's
// forced onto that base (measured independently here); a recipe without data.eval still retrains.
#include <gtest/gtest.h>

#include "edgetune/retune/retrain.h"
#include "edgetune/train/recipe.h"
#include "edgetune/train/trainer.h"
#include "retune_test_util.h"

using namespace et;
using namespace et::test;

namespace {

std::string head_lines(const std::string& file, int n, const std::string& out) {
  const std::string all = read_text_file(path_join(source_dir(), "data/stories-tools/" + file));
  size_t pos = 0;
  for (int i = 0; i < n && pos != std::string::npos; ++i) pos = all.find('\n', pos + 1);
  write_file_atomic(out, all.substr(0, pos == std::string::npos ? all.size() : pos + 1));
  return out;
}

// The held-out loss of the patch at `path` on `base` with the recipe's data settings.
double held_out_loss(const Recipe& recipe, const std::string& base, const std::string& path) {
  Recipe r = recipe;
  r.model.path = base;
  TrainSession s = open_session(r);
  attach_adapters(s.model, adapters_from_patch(read_patch(path), s.model.device));
  return evaluate_loss(s, s.eval_examples).loss;
}

}  // namespace

TEST(Retrain, GradCutOnTheNewBaseWarmStartedAndNoWorseThanTheOldPatch) {
  ET_REQUIRE_SHARED(base, "models/stories260K");
  const std::string dir = temp_dir("retune-retrain");
  Recipe recipe;
  recipe.model.path = base;
  recipe.model.device = "cpu";
  recipe.quant.backbone = "none";
  recipe.adapters.policy = "gradcut";
  recipe.adapters.gradcut.dedicated_rank = 4;
  recipe.adapters.gradcut.dedicated_alpha = 8;
  recipe.adapters.gradcut.threshold = -100;  // every survivor dedicated
  recipe.adapters.gradcut.initial_full_steps = 1;
  recipe.adapters.gradcut.prune_interval = 1;
  recipe.adapters.gradcut.prune_step = 2;
  recipe.data.train = head_lines("train.jsonl", 24, path_join(dir, "train.jsonl"));
  recipe.data.eval = head_lines("eval.jsonl", 8, path_join(dir, "eval.jsonl"));
  recipe.data.max_seq_len = 128;
  recipe.train.max_steps = 4;
  recipe.train.batch_size = 4;
  recipe.train.lr = 3e-3;
  recipe.train.warmup_steps = 0;
  recipe.train.eval_every = 0;
  recipe.output.export_peft = false;
  // The old patch: rank-4 LoRA everywhere, trained-looking (random) values.
  model::Model m = model::load_model(base);
  AdapterOptions all;
  all.rank = 4;
  all.alpha = 8;
  const std::string old_path = path_join(dir, "old.safetensors");
  const Patch old = write_random_patch(base, plan_all(m, all), old_path, 3, recipe_to_yaml(recipe));
  const std::string b = noisy_copy(base, "retune-retrain-b", 0.01, is_projection, 4);

  RetrainOptions o;
  o.output = path_join(dir, "new/patch.safetensors");
  make_dirs(parent_path(o.output));
  const RetrainResult r = retrain_patch(old, old_path, b, o);
  EXPECT_EQ(r.policy, "gradcut");
  EXPECT_EQ(r.steps, 4);
  EXPECT_EQ(r.output_dir, path_join(dir, "new"));
  EXPECT_TRUE(file_exists(path_join(dir, "new/metrics.jsonl")));
  const Patch p = read_patch(o.output);
  check_patch_base(p, b, false);  // loads on the new base without --force
  EXPECT_EQ(p.plan.policy, "gradcut");
  EXPECT_LT(p.plan.count(AdapterKind::dedicated), 35) << "GradCut pruned some matrices";
  EXPECT_GT(r.warm.copied, 0) << "the surviving rank-4 adapters start from the old ones";
  EXPECT_EQ(r.warm.copied, 2 * p.plan.count(AdapterKind::dedicated));
  EXPECT_EQ(parse_recipe(p.recipe_yaml, "p").model.path, b);
  // Independently: the held-out loss of each patch on the new base.
  const double old_loss = held_out_loss(recipe, b, old_path), new_loss = held_out_loss(recipe, b, o.output);
  EXPECT_NEAR(r.old_eval_loss, old_loss, 1e-9 * old_loss);
  EXPECT_NEAR(r.eval_loss, new_loss, 1e-9 * new_loss);
  EXPECT_LE(new_loss, old_loss);
  EXPECT_FALSE(r.kept_old);
}

TEST(Retrain, TheOldPatchIsWrittenWhenRetrainingEndsWorse) {
  ET_REQUIRE_SHARED(base, "models/stories260K");
  const std::string dir = temp_dir("retune-retrain-worse");
  Recipe recipe;
  recipe.model.path = base;
  recipe.model.device = "cpu";
  recipe.quant.backbone = "none";
  recipe.adapters.policy = "all";
  recipe.adapters.rank = 2;
  recipe.adapters.alpha = 4;
  recipe.data.train = head_lines("train.jsonl", 8, path_join(dir, "train.jsonl"));
  recipe.data.eval = head_lines("eval.jsonl", 4, path_join(dir, "eval.jsonl"));
  recipe.data.max_seq_len = 128;
  recipe.train.max_steps = 2;
  recipe.train.batch_size = 4;
  recipe.train.warmup_steps = 0;
  recipe.train.eval_every = 0;
  recipe.output.export_peft = false;
  model::Model m = model::load_model(base);
  AdapterOptions all;
  all.rank = 2;
  all.alpha = 4;
  AdapterSet fresh = create_adapters(plan_all(m, all), 1, torch::kCPU);  // B = 0: the base itself
  const std::string old_path = path_join(dir, "old.safetensors");
  const Patch old = make_patch(fresh, base, recipe_to_yaml(recipe));
  write_patch(old_path, old);
  const std::string b = noisy_copy(base, "retune-retrain-worse-b", 0.002, is_projection, 4);
  RetrainOptions o;
  o.output = path_join(dir, "new.safetensors");
  o.sets = {"train.lr=1", "train.max_grad_norm=0", "output.dir=" + path_join(dir, "run")};  // diverges
  const RetrainResult r = retrain_patch(old, old_path, b, o);
  EXPECT_EQ(r.output_dir, path_join(dir, "run"));
  ASSERT_GT(r.eval_loss, r.old_eval_loss);
  EXPECT_TRUE(r.kept_old);
  const Patch p = read_patch(o.output);
  check_patch_base(p, b, false);
  ASSERT_EQ(p.tensors.size(), old.tensors.size());
  for (size_t i = 0; i < p.tensors.size(); ++i) EXPECT_TRUE(torch::equal(p.tensors[i].second, old.tensors[i].second));
}
