// `retune --apply` on reuse and the report document: the patch written for the new base loads
// there without --force and gives exactly the logits of the old patch forced onto it; the old
// patch keeps refusing the new base, naming `edgetune retune`; the JSON holds the decision, the
// numbers that made it and one row per matrix.
#include <gtest/gtest.h>

#include "edgetune/model/forward.h"
#include "edgetune/retune/retune.h"
#include "edgetune/retune/reuse.h"
#include "edgetune/train/recipe.h"
#include "retune_test_util.h"

using namespace et;
using namespace et::test;

namespace {

struct Release {
  std::string a, b, patch, dir;
  Patch p;
};

// A patch on the golden Llama and a new release with drift well below the threshold.
Release small_release(const std::string& tag, double sigma = 2e-5) {
  Release r;
  r.dir = temp_dir(tag);
  r.a = noisy_copy(golden("llama"), tag + "-a", 0.0, [](const std::string&) { return false; });
  model::Model m = model::load_model(r.a);
  r.patch = path_join(r.dir, "patch.safetensors");
  Recipe recipe;
  recipe.model.path = r.a;
  recipe.data.train = "train.jsonl";
  r.p = write_random_patch(r.a, mixed_plan(m), r.patch, 8, recipe_to_yaml(recipe));
  r.b = noisy_copy(r.a, tag + "-b", sigma, is_projection, 3);
  return r;
}

}  // namespace

TEST(RetuneReuse, TheOldPatchRefusesTheNewBaseNamingRetuneUnlessForced) {
  const Release r = small_release("retune-refuse");
  const std::string e = error_of([&] { check_patch_base(r.p, r.b, false); });
  EXPECT_NE(e.find("edgetune retune"), std::string::npos) << e;
  EXPECT_NE(e.find("--force"), std::string::npos) << e;
  EXPECT_NE(e.find("model.layers.0.self_attn.q_proj"), std::string::npos) << e;  // the first patched matrix
  EXPECT_EQ(error_of([&] { check_patch_base(r.p, r.b, true); }), "");
  model::Model m = model::load_model(r.b);
  EXPECT_NE(error_of([&] { apply_patch(m, r.patch, r.b, false); }).find("edgetune retune"), std::string::npos);
  EXPECT_EQ(error_of([&] { apply_patch(m, r.patch, r.b, true); }), "");
}

TEST(RetuneReuse, ApplyWritesAPatchThatLoadsOnTheNewBaseWithTheForcedOutputs) {
  const Release r = small_release("retune-apply");
  RetuneRequest q;
  q.patch = r.patch;
  q.base_old = r.a;
  q.base_new = r.b;
  q.apply = true;
  q.output = path_join(r.dir, "reused/patch.safetensors");
  make_dirs(parent_path(q.output));
  const RetuneResult res = run_retune(q);
  ASSERT_EQ(res.report.decision, RetuneDecision::reuse) << res.report.statistic << " vs " << res.report.threshold;
  EXPECT_EQ(res.action, RetuneAction::reused);
  EXPECT_EQ(res.written, q.output);
  const Patch w = read_patch(q.output);
  check_patch_base(w, r.b, false);  // loads on the new base without --force
  EXPECT_NE(error_of([&] { check_patch_base(w, r.a, false); }).find("edgetune retune"), std::string::npos)
      << "and now refuses the old one";
  EXPECT_EQ(w.base_path, r.b);
  EXPECT_EQ(w.base_config, read_text_file(path_join(r.b, "config.json")));
  EXPECT_EQ(w.plan.to_json(), r.p.plan.to_json());
  EXPECT_EQ(parse_recipe(w.recipe_yaml, "w").model.path, r.b);
  EXPECT_EQ(parse_recipe(w.recipe_yaml, "w").data.train, "train.jsonl");
  ASSERT_EQ(w.tensors.size(), r.p.tensors.size());
  for (size_t i = 0; i < w.tensors.size(); ++i) EXPECT_TRUE(torch::equal(w.tensors[i].second, r.p.tensors[i].second));
  // Logits on the new base: the written patch, unforced, against the old patch forced.
  model::Model reused = model::load_model(r.b), forced = model::load_model(r.b);
  apply_patch(reused, q.output, r.b, false);
  apply_patch(forced, r.patch, r.b, true);
  const torch::Tensor ids = torch::arange(1, 33, torch::kLong).remainder(127).add(1).view({2, 16});
  torch::NoGradGuard g;
  const torch::Tensor x = model::forward(reused, ids), y = model::forward(forced, ids);
  EXPECT_TRUE(torch::equal(x, y));
  model::Model bare = model::load_model(r.b);
  EXPECT_FALSE(torch::equal(model::forward(bare, ids), x)) << "the patch changes the outputs";
}

TEST(RetuneReuse, ApplyNeedsAnOutputAndOutputNeedsApply) {
  const Release r = small_release("retune-args");
  RetuneRequest q;
  q.patch = r.patch;
  q.base_old = r.a;
  q.base_new = r.b;
  q.apply = true;
  EXPECT_NE(error_of([&] { run_retune(q); }).find("-o"), std::string::npos);
  q.apply = false;
  q.output = path_join(r.dir, "x.safetensors");
  EXPECT_NE(error_of([&] { run_retune(q); }).find("--apply"), std::string::npos);
  EXPECT_FALSE(file_exists(q.output));
}

TEST(RetuneReport, JsonHoldsTheDecisionItsNumbersAndEveryMatrix) {
  const Release r = small_release("retune-json", 5e-2);
  RetuneRequest q;
  q.patch = r.patch;
  q.base_old = r.a;
  q.base_new = r.b;
  q.options.kappa = 0.7;
  q.options.k = 0.5;
  const RetuneResult res = run_retune(q);
  const nlohmann::ordered_json j = nlohmann::json::parse(retune_json(res).dump());
  const DriftReport& d = res.report;
  EXPECT_EQ(j.at("decision"), retune_decision_name(d.decision));
  EXPECT_EQ(j.at("decision"), "retune");  // this drift is far above the patch's energy
  EXPECT_EQ(j.at("statistic").get<double>(), d.statistic);
  EXPECT_EQ(j.at("threshold").get<double>(), d.threshold);
  EXPECT_DOUBLE_EQ(j.at("statistic").get<double>(), j.at("mu_D").get<double>() + 0.5 * j.at("sigma_D").get<double>());
  EXPECT_DOUBLE_EQ(j.at("threshold").get<double>(),
                   0.7 * (j.at("mu_P").get<double>() + 0.5 * j.at("sigma_P").get<double>()));
  EXPECT_EQ(j.at("options").at("kappa"), 0.7);
  EXPECT_EQ(j.at("options").at("k"), 0.5);
  EXPECT_EQ(j.at("applied").at("action"), "none");
  ASSERT_EQ(j.at("matrices").size(), d.matrices.size());
  for (size_t i = 0; i < d.matrices.size(); ++i) {
    const auto& row = j["matrices"][i];
    EXPECT_EQ(row.at("module"), d.matrices[i].module);
    for (const char* k : {"relative_drift", "drift_to_patch", "subspace_drift", "weight_norm", "drift_norm",
                          "patch_norm", "mu_D", "mu_P", "kind", "rank", "shape", "layer", "type"})
      EXPECT_TRUE(row.contains(k)) << k;
    EXPECT_EQ(row.at("relative_drift").get<double>(), d.matrices[i].relative_drift);
  }
  const std::string text = format_retune_report(res);
  EXPECT_NE(text.find("decision   retune"), std::string::npos) << text;
  EXPECT_NE(text.find(d.matrices.front().module), std::string::npos) << text;
}
