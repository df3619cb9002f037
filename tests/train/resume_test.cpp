// Resume reproduces the uninterrupted run: a run stopped after step k (as Ctrl-C stops it: a
// checkpoint is written) and resumed from that checkpoint in a new session logs, at every later
// step, exactly the numbers an uninterrupted run logs (loss, lr, grad norm, trained tokens, eval
// loss), and ends with bit-identical adapter tensors. CPU, fixed seed; with gradient accumulation
// and adapter dropout (whose masks are seeded per step) in one case, and across the end of a
// GradCut warm-up (adapters that freeze, a cut that moves up) in another.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "edgetune/adapt/plan.h"
#include "edgetune/core/file_io.h"
#include "edgetune/train/checkpoint.h"
#include "edgetune/train/trainer.h"
#include "test_util.h"

using namespace et;

namespace {

struct RunSpec {
  int steps = 8;
  int grad_accum = 2;
  double dropout = 0.1;
  std::string backbone = "nf4";
  int eval_every = 3;
  int warm_steps = 0;  // > 0: layers 0-2 get warm-up adapters (train_steps), so the cut moves to 3
};

Recipe stories_recipe(const std::string& model, const std::string& out, const RunSpec& spec) {
  Recipe r;
  r.model.path = model;
  r.model.device = "cpu";
  r.model.dtype = "float32";
  r.quant.backbone = spec.backbone;
  r.adapters.policy = "all";
  r.adapters.rank = 4;
  r.adapters.alpha = 8;
  r.adapters.dropout = spec.dropout;
  r.data.train = path_join(test::source_dir(), "data/stories-tools/train.jsonl");
  r.data.eval = path_join(test::source_dir(), "data/stories-tools/eval.jsonl");
  r.data.eval_max_examples = 6;
  r.data.max_seq_len = 192;
  r.train.max_steps = spec.steps;
  r.train.batch_size = 2;
  r.train.grad_accum = spec.grad_accum;
  r.train.lr = 2e-3;
  r.train.warmup_steps = 2;
  r.train.eval_every = spec.eval_every;
  r.train.save_every = 0;
  r.train.seed = 5;
  r.output.dir = out;
  return r;
}

// The numbers of every metrics row that do not depend on wall time or memory.
std::vector<nlohmann::json> deterministic_rows(const std::string& dir) {
  std::vector<nlohmann::json> rows;
  std::istringstream in(read_text_file(path_join(dir, "metrics.jsonl")));
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    for (const char* k : {"tokens_per_s", "step_s", "mem_mb"}) j.erase(k);
    rows.push_back(j);
  }
  return rows;
}

// A session ready to train (open_session + apply_plan of policy all, with the warm-up of spec).
TrainSession session(const Recipe& r, const RunSpec& spec) {
  TrainSession s = open_session(r);
  Plan p = plan_all(s.model, r.adapters);
  for (auto& e : p.entries)
    if (e.layer < 3) e.train_steps = spec.warm_steps;
  apply_plan(s, p);
  return s;
}

void check_resume_reproduces(const RunSpec& spec, int stop_after) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  const std::string full_dir = test::temp_dir("resume-full");
  const std::string split_dir = test::temp_dir("resume-split");

  TrainSession a = session(stories_recipe(model, full_dir, spec), spec);
  TrainResult ra = run_training(a, false);
  EXPECT_EQ(ra.steps_done, spec.steps);
  EXPECT_FALSE(ra.interrupted);

  {
    TrainSession b = session(stories_recipe(model, split_dir, spec), spec);
    TrainHooks stop;
    stop.after_step = [&](int64_t step, double) { return step < stop_after; };
    TrainResult rb = run_training(b, false, stop);
    EXPECT_TRUE(rb.interrupted);
    EXPECT_EQ(rb.steps_done, stop_after);
  }
  const std::string ck = latest_checkpoint(split_dir);
  ASSERT_FALSE(ck.empty()) << "stopping writes a checkpoint";
  EXPECT_EQ(load_checkpoint(ck).step, stop_after);
  // The rows of the stopped run are a prefix of the full run's.
  auto full = deterministic_rows(full_dir);
  auto part = deterministic_rows(split_dir);
  ASSERT_LT(part.size(), full.size());
  for (size_t i = 0; i < part.size(); ++i) EXPECT_EQ(part[i], full[i]) << "row " << i;

  TrainSession c = session(stories_recipe(model, split_dir, spec), spec);
  TrainResult rc = run_training(c, /*resume=*/true);
  EXPECT_EQ(rc.steps_done, spec.steps);
  EXPECT_FALSE(rc.interrupted);
  auto resumed = deterministic_rows(split_dir);
  ASSERT_EQ(resumed.size(), full.size());
  int step_rows = 0;
  for (size_t i = 0; i < full.size(); ++i) {
    EXPECT_EQ(resumed[i], full[i]) << "row " << i;  // exact: same doubles, same integers
    step_rows += full[i].contains("loss");
  }
  EXPECT_EQ(step_rows, spec.steps);
  EXPECT_EQ(rc.last_eval_loss, ra.last_eval_loss);
  // The adapters end bit-identical.
  ASSERT_EQ(a.params.size(), c.params.size());
  for (size_t i = 0; i < a.params.size(); ++i) {
    EXPECT_EQ(a.params[i].name, c.params[i].name);
    EXPECT_TRUE(torch::equal(a.params[i].param, c.params[i].param)) << a.params[i].name;
  }
  // And training moved them (B started at zero).
  bool moved = false;
  for (const auto& p : c.params)
    if (p.name.find("lora_B") != std::string::npos) moved = moved || p.param.abs().max().item<double>() > 0;
  EXPECT_TRUE(moved);
}

}  // namespace

TEST(Resume, QloraWithAccumulationAndDropoutReproducesEveryStep) {
  RunSpec spec;
  check_resume_reproduces(spec, 3);  // stopped on an eval step
}

TEST(Resume, DenseBackboneStoppedBetweenEvals) {
  RunSpec spec;
  spec.steps = 7;
  spec.grad_accum = 1;
  spec.dropout = 0;
  spec.backbone = "none";
  check_resume_reproduces(spec, 4);
}

TEST(Resume, WarmupAdaptersFreezeAndTheCutMovesAcrossAStop) {
  RunSpec spec;
  spec.steps = 6;
  spec.warm_steps = 2;
  check_resume_reproduces(spec, 3);  // resumed after the warm-up: frozen from the start, cache at layer 3
  spec.warm_steps = 4;
  check_resume_reproduces(spec, 2);  // resumed inside it: the cut moves after step 4 of the resumed run
}

// The checkpoint holds what the run needs: every trainable tensor and both AdamW moments, the
// step, the data position, plan and recipe; only the newest `keep` files stay.
TEST(Resume, CheckpointContentsAndPruning) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  const std::string dir = test::temp_dir("resume-ck");
  RunSpec spec;
  spec.steps = 5;
  Recipe r = stories_recipe(model, dir, spec);
  r.train.save_every = 1;
  r.output.keep_checkpoints = 2;
  TrainSession s = session(r, spec);
  run_training(s, false);
  const std::string ck = latest_checkpoint(dir);
  EXPECT_NE(ck.find("step-00000005.safetensors"), std::string::npos) << ck;
  EXPECT_FALSE(file_exists(path_join(dir, "checkpoints/step-00000003.safetensors")));
  EXPECT_TRUE(file_exists(path_join(dir, "checkpoints/step-00000004.safetensors")));
  CheckpointState st = load_checkpoint(ck);
  EXPECT_EQ(st.step, 5);
  EXPECT_EQ(st.recipe_yaml, s.recipe_yaml);
  EXPECT_EQ(nlohmann::json::parse(st.plan_json), s.plan.to_json());
  ASSERT_EQ(st.params.size(), s.params.size());
  std::map<std::string, torch::Tensor> saved(st.params.begin(), st.params.end());
  std::map<std::string, torch::Tensor> moments(st.optimizer.begin(), st.optimizer.end());
  for (const auto& p : s.params) {
    ASSERT_TRUE(saved.count(p.name)) << p.name;
    EXPECT_TRUE(torch::equal(saved.at(p.name), p.param.detach())) << p.name;
    for (const char* m : {".exp_avg", ".exp_avg_sq"}) {
      ASSERT_TRUE(moments.count(p.name + m)) << p.name << m;
      EXPECT_EQ(moments.at(p.name + m).sizes(), p.param.sizes());
    }
  }
  EXPECT_EQ(st.optimizer.size(), 2 * s.params.size());
  // The second moment of a trained B is positive somewhere (the state is real, not zeros).
  EXPECT_GT(moments.at("model.layers.4.mlp.down_proj.lora_B.exp_avg_sq").max().item<double>(), 0);
  // 5 steps of 2 micro-batches of 2 rows.
  EXPECT_GT(st.data_cursor + st.data_epoch, 0u);
}
