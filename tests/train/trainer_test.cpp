// The training session and loop against independent computations: the parameters handed to the
// optimizer are exactly the plan's count; evaluate_loss (packed rows, chunked cross-entropy on
// target tokens) equals the mean next-token loss of each conversation run through the model on
// its own; gradient accumulation is token-normalized (batch 4 x 1 equals batch 2 x 2); a run
// writes its outputs and lowers the held-out loss.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "edgetune/adapt/plan.h"
#include "edgetune/core/file_io.h"
#include "edgetune/model/forward.h"
#include "edgetune/train/checkpoint.h"
#include "edgetune/train/trainer.h"
#include "test_util.h"

using namespace et;

namespace {

Recipe base_recipe(const std::string& model, const std::string& out) {
  Recipe r;
  r.model.path = model;
  r.model.device = "cpu";
  r.model.dtype = "float32";
  r.quant.backbone = "nf4";
  r.adapters.rank = 4;
  r.adapters.alpha = 8;
  r.data.train = path_join(test::source_dir(), "data/stories-tools/train.jsonl");
  r.data.eval = path_join(test::source_dir(), "data/stories-tools/eval.jsonl");
  r.data.eval_max_examples = 10;
  r.data.max_seq_len = 128;
  r.train.max_steps = 4;
  r.train.batch_size = 2;
  r.train.lr = 2e-3;
  r.train.warmup_steps = 0;
  r.train.seed = 1;
  r.output.dir = out;
  return r;
}

}  // namespace

TEST(Trainer, OptimizerGetsExactlyThePlanParameters) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  TrainSession s = open_session(base_recipe(model, test::temp_dir("trainer-count")));
  // A hand-made plan: dedicated q (rank 2) in layers 3-4, shared up (rank 3) in layers 2-4.
  Plan p = empty_plan(s.model, s.recipe.adapters);
  p.policy = "gradcut";
  for (auto& e : p.entries) {
    if (e.type == "q_proj" && e.layer >= 3) {
      e.kind = AdapterKind::dedicated;
      e.rank = 2;
      e.alpha = 2;
    } else if (e.type == "up_proj" && e.layer >= 2) {
      e.kind = AdapterKind::shared;
      e.rank = 3;
      e.alpha = 3;
      if (!p.shared_of("up_proj")) p.shared.push_back({"up_proj", 3, 3, e.in_features, e.out_features});
    }
  }
  apply_plan(s, p);
  int64_t n = 0;
  for (const auto& np : s.params) {
    EXPECT_TRUE(np.param.requires_grad()) << np.name;
    n += np.param.numel();
  }
  // stories260K: hidden 64, q out 64, MLP 172. q: 2 * 2 * (64 + 64); up: 3 * (64 + 172) + 3 * (3 + 172).
  EXPECT_EQ(n, 2 * 2 * (64 + 64) + 3 * (64 + 172) + 3 * (3 + 172));
  EXPECT_EQ(n, p.trainable_parameters());
  EXPECT_EQ(p.cut_layer(), 2);
}

TEST(Trainer, EvaluateLossEqualsPerConversationForward) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  Recipe r = base_recipe(model, test::temp_dir("trainer-eval"));
  r.quant.backbone = "none";
  r.data.eval_max_examples = 12;
  TrainSession s = open_session(r);
  apply_plan(s, plan_all(s.model, r.adapters));
  ASSERT_EQ(s.eval_examples.size(), 12u);
  const EvalResult e = evaluate_loss(s, s.eval_examples);
  // Reference: each conversation alone through the full forward, log-softmax, targets only.
  torch::NoGradGuard g;
  double sum = 0;
  int64_t tokens = 0;
  for (const auto& ex : s.eval_examples) {
    std::vector<int64_t> ids(ex.ids.begin(), ex.ids.end());
    torch::Tensor logits = model::forward(s.model, torch::tensor(ids).view({1, -1}))[0];
    torch::Tensor lp = torch::log_softmax(logits.to(torch::kFloat64), -1);
    for (size_t t = 1; t < ids.size(); ++t) {
      if (!ex.target[t]) continue;
      sum -= lp[static_cast<int64_t>(t - 1)][ids[t]].item<double>();
      ++tokens;
    }
  }
  EXPECT_EQ(e.tokens, tokens);
  EXPECT_NEAR(e.loss, sum / static_cast<double>(tokens), 1e-5);
}

TEST(Trainer, AccumulationIsTokenNormalized) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  // One step over the same four packed rows: one micro-batch of 4, or two of 2.
  auto one_step = [&](int batch, int accum) {
    Recipe r = base_recipe(model, test::temp_dir("trainer-accum"));
    r.train.max_steps = 1;
    r.train.batch_size = batch;
    r.train.grad_accum = accum;
    r.train.max_grad_norm = 0;
    r.data.eval.clear();
    TrainSession s = open_session(r);
    apply_plan(s, plan_all(s.model, r.adapters));
    double loss = 0;
    TrainHooks h;
    h.after_step = [&](int64_t, double l) {
      loss = l;
      return true;
    };
    run_training(s, false, h);
    std::vector<torch::Tensor> params;
    for (const auto& p : s.params) params.push_back(p.param.detach().clone());
    return std::make_pair(loss, params);
  };
  auto [l1, p1] = one_step(4, 1);
  auto [l2, p2] = one_step(2, 2);
  EXPECT_NEAR(l1, l2, 1e-6 * l1);
  ASSERT_EQ(p1.size(), p2.size());
  double max_update = 0, max_diff = 0;
  for (size_t i = 0; i < p1.size(); ++i) {
    max_diff = std::max(max_diff, (p1[i] - p2[i]).abs().max().item<double>());
    max_update = std::max(max_update, p1[i].abs().max().item<double>());
  }
  EXPECT_GT(max_update, 0);
  // Adam's first step moves each weight by about lr * sign(g): equal gradients, equal updates.
  EXPECT_LT(max_diff, 1e-6);
}

TEST(Trainer, RunWritesItsOutputsAndLowersTheHeldOutLoss) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  const std::string dir = test::temp_dir("trainer-run");
  Recipe r = base_recipe(model, dir);
  r.train.max_steps = 30;
  r.train.batch_size = 4;
  r.train.eval_every = 15;
  r.train.lr = 3e-3;
  TrainSession s = open_session(r);
  apply_plan(s, plan_all(s.model, r.adapters));
  TrainResult res = run_training(s, false);
  EXPECT_EQ(res.steps_done, 30);
  EXPECT_LT(res.last_eval_loss, 0.9 * res.first_eval_loss);
  for (const char* f : {"recipe.resolved.yaml", "plan.json", "metrics.jsonl"})
    EXPECT_TRUE(file_exists(path_join(dir, f))) << f;
  EXPECT_FALSE(latest_checkpoint(dir).empty());
  EXPECT_EQ(read_text_file(path_join(dir, "recipe.resolved.yaml")), s.recipe_yaml);
  // metrics.jsonl: an eval row at step 0 first, one step row per step, eval rows at 15 and 30.
  std::istringstream in(read_text_file(path_join(dir, "metrics.jsonl")));
  std::string line;
  std::vector<int64_t> eval_steps;
  int64_t step_rows = 0, last_step = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("eval_loss")) {
      eval_steps.push_back(j["step"].get<int64_t>());
      continue;
    }
    ++step_rows;
    EXPECT_EQ(j["step"].get<int64_t>(), last_step + 1);
    last_step = j["step"].get<int64_t>();
    for (const char* k : {"loss", "lr", "grad_norm", "tokens", "tokens_per_s", "step_s", "mem_mb"})
      EXPECT_TRUE(j.contains(k)) << k;
  }
  EXPECT_EQ(step_rows, 30);
  EXPECT_EQ(eval_steps, (std::vector<int64_t>{0, 15, 30}));
}
