// A run survives what happens to runs on devices, checked against an uninterrupted run of the same
// recipe (CPU, fixed seed, so every logged number must match exactly):
//  - a damaged newest checkpoint (truncated, or one flipped bit) is detected by its checksums and
//    --resume falls back to the one before it, with a warning naming it, and the later steps log
//    what the uninterrupted run logs;
//  - checkpoints written before checksums still load;
//  - partial files of an interrupted write are removed when the next run starts;
//  - the summary (eval before = step 0, eval after, train loss) comes from the run's whole
//    metrics, after a stop, a resume and a resume of the finished run;
//  - a step with a non-finite loss is skipped (no update, AdamW untouched, a row saying why), the
//    run goes on, and a resume across the skip reproduces the uninterrupted run.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "edgetune/adapt/plan.h"
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/safetensors.h"
#include "edgetune/train/checkpoint.h"
#include "edgetune/train/trainer.h"
#include "test_util.h"

using namespace et;

namespace {

Recipe tiny_recipe(const std::string& model, const std::string& out) {
  Recipe r;
  r.model.path = model;
  r.model.device = "cpu";
  r.model.dtype = "float32";
  r.quant.backbone = "none";
  r.adapters.policy = "all";
  r.adapters.rank = 2;
  r.adapters.alpha = 4;
  r.data.train = path_join(test::source_dir(), "data/stories-tools/train.jsonl");
  r.data.eval = path_join(test::source_dir(), "data/stories-tools/eval.jsonl");
  r.data.eval_max_examples = 4;
  r.data.max_seq_len = 128;
  r.train.max_steps = 8;
  r.train.batch_size = 2;
  r.train.lr = 3e-3;
  r.train.warmup_steps = 2;
  r.train.eval_every = 4;
  r.train.save_every = 2;
  r.train.seed = 3;
  r.output.dir = out;
  r.output.keep_checkpoints = 4;
  return r;
}

TrainSession session(const Recipe& r) {
  TrainSession s = open_session(r);
  apply_plan(s, plan_all(s.model, r.adapters));
  return s;
}

std::vector<nlohmann::json> rows(const std::string& dir) {
  std::vector<nlohmann::json> out;
  std::istringstream in(read_text_file(path_join(dir, "metrics.jsonl")));
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    for (const char* k : {"tokens_per_s", "step_s", "mem_mb"}) j.erase(k);
    out.push_back(j);
  }
  return out;
}

TrainHooks stop_after(int64_t k) {
  TrainHooks h;
  h.after_step = [k](int64_t step, double) { return step < k; };
  return h;
}

std::string ck_name(const std::string& dir, int64_t step) {
  char name[64];
  std::snprintf(name, sizeof name, "checkpoints/step-%08lld.safetensors", static_cast<long long>(step));
  return path_join(dir, name);
}

class RunFaults : public testing::Test {
 protected:
  void SetUp() override {
    model_ = test::shared_path("models/stories260K");
    if (model_.empty()) GTEST_SKIP() << "../shared/models/stories260K is absent; skipping";
  }
  // The uninterrupted run's rows (computed once for the suite).
  const std::vector<nlohmann::json>& full_rows() {
    static std::vector<nlohmann::json> full;
    if (full.empty()) {
      const std::string dir = test::temp_dir("faults-full");
      TrainSession s = session(tiny_recipe(model_, dir));
      run_training(s, false);
      full = rows(dir);
    }
    return full;
  }
  std::string model_;
};

TEST_F(RunFaults, ADamagedNewestCheckpointFallsBackToThePreviousOne) {
  const auto& full = full_rows();
  for (const std::string damage : {"truncated", "bit-flipped"}) {
    SCOPED_TRACE(damage);
    const std::string dir = test::temp_dir("faults-damaged");
    {
      TrainSession s = session(tiny_recipe(model_, dir));
      run_training(s, false, stop_after(6));
    }
    const std::string newest = ck_name(dir, 6);
    ASSERT_EQ(latest_checkpoint(dir), newest);
    std::string bytes = read_text_file(newest);
    if (damage == "truncated") {
      bytes.resize(bytes.size() * 2 / 3);
    } else {
      // The lowest mantissa bit of the last float (a finite value stays finite: only a checksum
      // can tell).
      bytes[bytes.size() - 4] = static_cast<char>(bytes[bytes.size() - 4] ^ 1);
    }
    write_file_atomic(newest, bytes);
    EXPECT_THROW(load_checkpoint(newest), Error);

    testing::internal::CaptureStderr();
    TrainSession s = session(tiny_recipe(model_, dir));
    TrainResult r = run_training(s, true);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(r.steps_done, 8);
    EXPECT_NE(err.find("checkpoint " + newest + " is damaged"), std::string::npos) << err;
    EXPECT_NE(err.find("falling back to the one before it"), std::string::npos) << err;
    EXPECT_NE(err.find("resuming from " + ck_name(dir, 4) + " at step 4"), std::string::npos) << err;
    EXPECT_TRUE(file_exists(newest + ".damaged")) << "set aside, not deleted";
    EXPECT_EQ(rows(dir), full) << "the steps after the fallback log what the uninterrupted run logs";
  }
}

TEST_F(RunFaults, CheckpointsWithoutChecksumsStillLoad) {
  const std::string dir = test::temp_dir("faults-v1");
  {
    TrainSession s = session(tiny_recipe(model_, dir));
    run_training(s, false, stop_after(2));
  }
  const std::string ck = ck_name(dir, 2);
  const CheckpointState now = load_checkpoint(ck);
  // The same file as version 1 wrote it: no checksums, no optimizer_steps.
  std::vector<std::vector<float>> keep;
  std::vector<TensorToWrite> t;
  std::map<std::string, std::string> md;
  {
    SafetensorsFile f(ck);
    md = f.metadata();
    for (const auto& info : f.tensors()) {
      keep.push_back(f.read_f32(info.name));
      t.push_back({info.name, DType::f32, info.shape, keep.back().data(), keep.back().size() * 4});
    }
  }
  md.erase("checksums");
  md.erase("optimizer_steps");
  md["version"] = "1";
  write_safetensors(ck, t, md);
  const CheckpointState old = load_checkpoint(ck);
  EXPECT_EQ(old.step, 2);
  EXPECT_EQ(old.optimizer_steps, 2);
  ASSERT_EQ(old.params.size(), now.params.size());
  for (size_t i = 0; i < old.params.size(); ++i) EXPECT_TRUE(torch::equal(old.params[i].second, now.params[i].second));
  // A version-2 file that lost its checksums is damaged, not old.
  md["version"] = "2";
  write_safetensors(ck, t, md);
  EXPECT_NE(test::error_of([&] { load_checkpoint(ck); }).find("'checksums' is missing"), std::string::npos);
}

TEST_F(RunFaults, PartialFilesOfAnInterruptedWriteAreRemovedAtStart) {
  const std::string dir = test::temp_dir("faults-tmp");
  make_dirs(path_join(dir, "checkpoints"));
  const std::string partial_ck = path_join(dir, "checkpoints/step-00000004.safetensors.tmp.4242");
  const std::string partial_patch = path_join(dir, "patch.safetensors.tmp.77");
  const std::string other = path_join(dir, "notes.tmp.txt");
  const std::string not_ours = path_join(dir, "download.bin.tmp.99");  // another program's, in a shared folder
  for (const auto& p : {partial_ck, partial_patch, other, not_ours}) write_file_atomic(p, "partial");
  Recipe r = tiny_recipe(model_, dir);
  r.train.max_steps = 1;
  testing::internal::CaptureStderr();
  TrainSession s = session(r);
  run_training(s, false);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(file_exists(partial_ck));
  EXPECT_FALSE(file_exists(partial_patch));
  EXPECT_TRUE(file_exists(other)) << "only an atomic write's temp files (<name>.tmp.<pid>) go";
  EXPECT_TRUE(file_exists(not_ours)) << "and only those of the run's own outputs";
  EXPECT_NE(err.find("removed " + partial_ck), std::string::npos) << err;
}

TEST_F(RunFaults, SummariesComeFromTheWholeMetrics) {
  const auto& full = full_rows();
  // The uninterrupted run's numbers: eval rows at 0, 4, 8 and the last step row.
  ASSERT_EQ(full.front()["step"], 0);
  const double eval0 = full.front()["eval_loss"].get<double>();
  const double eval8 = full.back()["eval_loss"].get<double>();
  double loss2 = 0, loss8 = 0;
  for (const auto& j : full) {
    if (!j.contains("loss")) continue;
    if (j["step"] == 2) loss2 = j["loss"].get<double>();
    if (j["step"] == 8) loss8 = j["loss"].get<double>();
  }
  ASSERT_NE(loss2, 0);
  ASSERT_NE(loss8, 0);

  const std::string dir = test::temp_dir("faults-summary");
  {
    TrainSession s = session(tiny_recipe(model_, dir));
    TrainResult r = run_training(s, false, stop_after(2));  // stopped before the first periodic eval
    EXPECT_TRUE(r.interrupted);
    EXPECT_EQ(r.first_eval_step, 0);
    EXPECT_EQ(r.first_eval_loss, eval0);
    EXPECT_EQ(r.last_eval_step, 0) << "no eval since step 0: not an 'after'";
    EXPECT_TRUE(r.has_train_loss);
    EXPECT_EQ(r.last_train_loss, loss2);
  }
  for (int again = 0; again < 2; ++again) {  // the resume, then a resume of the finished run
    SCOPED_TRACE(again ? "finished run resumed" : "resumed");
    TrainSession s = session(tiny_recipe(model_, dir));
    TrainResult r = run_training(s, true);
    EXPECT_EQ(r.steps_done, 8);
    EXPECT_FALSE(r.interrupted);
    EXPECT_EQ(r.first_eval_step, 0);
    EXPECT_EQ(r.first_eval_loss, eval0) << "before = the step-0 eval, not the first eval after the resume";
    EXPECT_EQ(r.last_eval_step, 8);
    EXPECT_EQ(r.last_eval_loss, eval8);
    EXPECT_TRUE(r.has_train_loss);
    EXPECT_EQ(r.last_train_loss, loss8);
    EXPECT_EQ(rows(dir), full) << "no row twice";
  }
}

TEST_F(RunFaults, ANonFiniteStepIsSkippedAndAResumeAcrossItReproducesTheRun) {
  // After step 3 one adapter tensor is poisoned with NaN (its value kept), after step 4 restored:
  // step 4's loss is NaN, so its update must not happen, and the run goes on from step 3's weights.
  auto poison_hooks = [](TrainSession& s, int64_t stop) {
    auto saved = std::make_shared<torch::Tensor>();
    TrainHooks h;
    h.after_step = [&s, saved, stop](int64_t step, double) {
      torch::NoGradGuard g;
      torch::Tensor p = s.params.back().param;
      if (step == 3) {
        *saved = p.detach().clone();
        p.fill_(std::nan(""));
      } else if (step == 4) {
        p.copy_(*saved);
      }
      return step < stop;
    };
    return h;
  };
  const std::string a = test::temp_dir("faults-nan");
  TrainSession sa = session(tiny_recipe(model_, a));
  TrainResult ra = run_training(sa, false, poison_hooks(sa, 100));
  EXPECT_EQ(ra.steps_done, 8);
  EXPECT_EQ(ra.skipped_steps, 1);
  const auto ref = rows(a);
  int skipped = 0;
  for (const auto& j : ref)
    if (j.contains("skipped")) {
      ++skipped;
      EXPECT_EQ(j["step"], 4);
      EXPECT_TRUE(j["loss"].is_null());
      EXPECT_NE(j["skipped"].get<std::string>().find("not finite"), std::string::npos) << j.dump();
    }
  EXPECT_EQ(skipped, 1);
  EXPECT_EQ(load_checkpoint(latest_checkpoint(a)).optimizer_steps, 7) << "8 steps, one update skipped";
  for (const auto& p : sa.params) EXPECT_TRUE(torch::isfinite(p.param).all().item<bool>()) << p.name;

  // Stopped after step 6 and resumed: the same rows (AdamW resumes at its own step count, 5).
  const std::string b = test::temp_dir("faults-nan-resume");
  {
    TrainSession sb = session(tiny_recipe(model_, b));
    run_training(sb, false, poison_hooks(sb, 6));
  }
  EXPECT_EQ(load_checkpoint(latest_checkpoint(b)).optimizer_steps, 5);
  TrainSession sc = session(tiny_recipe(model_, b));
  run_training(sc, true);
  EXPECT_EQ(rows(b), ref);
}

TEST(StepGuard, WhatMakesAStepBad) {
  StepGuard off;
  EXPECT_EQ(bad_step_reason(off, std::nan(""), 0), "");
  StepGuard g;
  g.enabled = true;
  EXPECT_EQ(bad_step_reason(g, 2.5, 1.0), "");
  EXPECT_NE(bad_step_reason(g, std::nan(""), 1.0).find("loss is not finite"), std::string::npos);
  EXPECT_NE(bad_step_reason(g, INFINITY, 1.0).find("loss is not finite"), std::string::npos);
  EXPECT_NE(bad_step_reason(g, 2.5, INFINITY).find("gradient norm is not finite"), std::string::npos);
  EXPECT_NE(bad_step_reason(g, 6.2, 0.0).find("no gradient reaches"), std::string::npos);
  EXPECT_EQ(bad_step_reason(g, 0.0, 0.0), "") << "a perfect prediction has no gradient";
  EXPECT_EQ(bad_step_reason(g, 1e6, 1.0), "") << "no loss limit without max_loss";
  g.max_loss = 20;
  EXPECT_EQ(bad_step_reason(g, 19.9, 1.0), "");
  EXPECT_NE(bad_step_reason(g, 20.1, 1.0).find("exploded"), std::string::npos);
}

}  // namespace
