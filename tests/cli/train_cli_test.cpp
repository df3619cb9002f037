// `edgetune train` through the built binary:
//  - the real recipe recipes/stories-tools.yaml on stories260K (slow: about a minute; its own CTest
//    entry labelled "slow", see tests/CMakeLists.txt) lowers the held-out loss by at least 30% in
//    under 5 minutes, and its patch is then exported as PEFT and merged, applied by generate
//    (the merged model generates what base + patch generates), and refused on another base unless
//    --force; eval finds its tool names right on held-out conversations (at least 0.5 free, 0.8
//    with --constrain);
//  - Ctrl-C (SIGINT) writes a checkpoint and exits 0, and --resume continues from it;
//  - unknown or ill-typed recipe keys exit non-zero naming the key;
//  - a run from a plan file takes the recipe's adapter dropout.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "edgetune/core/file_io.h"
#include "edgetune/core/safetensors.h"
#include "cli_test_util.h"
#include "test_util.h"

using et::path_join;
using et::read_text_file;
using et::write_file_atomic;
using et::file_exists;
using et::test::run_cli;
using et::test::Background;
using et::test::Metrics;
using et::test::read_metrics;
using et::test::summary;

namespace {

// A copy of a model folder with one tensor scaled (another "release" of the base).
std::string altered_copy(const std::string& src, const std::string& tensor) {
  const std::string dst = et::test::temp_dir("cli-other-base");
  for (const char* f : {"config.json", "generation_config.json", "tokenizer.model", "tokenizer.json",
                        "tokenizer_config.json"})
    if (file_exists(path_join(src, f))) write_file_atomic(path_join(dst, f), read_text_file(path_join(src, f)));
  et::SafetensorsFile f(path_join(src, "model.safetensors"));
  std::vector<std::vector<float>> keep;
  std::vector<et::TensorToWrite> t;
  for (const auto& info : f.tensors()) {
    keep.push_back(f.read_f32(info.name));
    if (info.name == tensor)
      for (float& x : keep.back()) x *= 1.01f;
    t.push_back({info.name, et::DType::f32, info.shape, keep.back().data(), keep.back().size() * 4});
  }
  et::write_safetensors(path_join(dst, "model.safetensors"), t);
  return dst;
}

std::string greedy(const std::vector<std::string>& model_args) {
  std::vector<std::string> args = {"generate"};
  args.insert(args.end(), model_args.begin(), model_args.end());
  for (const char* a : {"--prompt", "Tom wants to go to the park.", "--max-tokens", "24", "--temperature", "0"})
    args.push_back(a);
  auto r = run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

// `edgetune train` on recipes/stories-tools.yaml with stories260K and the repository's data, writing to out.
std::vector<std::string> stories_tools_train(const std::string& model, const std::string& out) {
  return {"train", path_join(et::test::source_dir(), "recipes/stories-tools.yaml"), "--set", "model.path=" + model,
          "--set", "data.train=" + path_join(et::test::source_dir(), "data/stories-tools/train.jsonl"), "--set",
          "data.eval=" + path_join(et::test::source_dir(), "data/stories-tools/eval.jsonl"), "--set",
          "output.dir=" + out};
}

}  // namespace

// The real recipe. Runs only with ET_SLOW_TESTS set (its CTest entry sets it); elsewhere skipped.
TEST(TrainCliSlow, StoriesToolsRecipeLowersHeldOutLossAndExports) {
  if (!std::getenv("ET_SLOW_TESTS")) GTEST_SKIP() << "slow test: set ET_SLOW_TESTS=1 (ctest -L slow)";
  ET_REQUIRE_SHARED(model, "models/stories260K");
  const std::string work = et::test::temp_dir("stories-tools");
  const std::string out = path_join(work, "run");
  const auto t0 = std::chrono::steady_clock::now();
  // From the repository root, as documented; the model path of the shared folder wherever it is.
  Background run({"train", "recipes/stories-tools.yaml", "--set", "model.path=" + model, "--set", "output.dir=" + out},
                 et::test::source_dir(), work);
  const int code = run.wait(600);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(code, 0) << run.err();
  nlohmann::json s = summary(run.out());
  const double before = s["eval_loss_before"].get<double>(), after = s["eval_loss_after"].get<double>();
  std::printf("[ stories-tools ] held-out loss %.4f -> %.4f (%.1f%% lower) in %.1f s\n", before, after,
              100.0 * (before - after) / before, seconds);
  RecordProperty("eval_loss_before", std::to_string(before));
  RecordProperty("eval_loss_after", std::to_string(after));
  RecordProperty("seconds", std::to_string(seconds));
  EXPECT_LE(after, 0.7 * before);
  EXPECT_LT(seconds, 300.0);
  EXPECT_EQ(s["steps"].get<int64_t>(), 150);
  // The metrics agree with the summary.
  Metrics m = read_metrics(path_join(out, "metrics.jsonl"));
  ASSERT_FALSE(m.evals.empty());
  EXPECT_EQ(m.evals.front().first, 0);
  EXPECT_DOUBLE_EQ(m.evals.front().second, before);
  EXPECT_DOUBLE_EQ(m.evals.back().second, after);
  EXPECT_EQ(m.steps.size(), 150u);
  const std::string patch = path_join(out, "patch.safetensors");
  ASSERT_TRUE(file_exists(patch));
  EXPECT_TRUE(file_exists(path_join(out, "peft/adapter_config.json")));

  // The patched model answers with tool calls (on the NF4 backbone it trained on, eval's default):
  // tool names right on held-out conversations, free and constrained.
  for (const bool constrain : {false, true}) {
    std::vector<std::string> cmd = {"eval", "--model", model, "--patch", path_join(out, "patch.safetensors"), "--data",
                                    path_join(et::test::source_dir(), "data/stories-tools/eval.jsonl"), "--limit", "20",
                                    "--no-loss"};
    if (constrain) cmd.push_back("--constrain");
    auto e = run_cli(cmd);
    ASSERT_EQ(e.exit_code, 0) << e.err;
    const auto j = nlohmann::json::parse(e.out);
    EXPECT_EQ(j["backbone"], "nf4");
    EXPECT_GE(j["tool_name_accuracy"].get<double>(), constrain ? 0.8 : 0.5) << e.out;
    std::printf("[ stories-tools ] eval%s: tool names %.2f, exact calls %.2f\n", constrain ? " --constrain" : "",
                j["tool_name_accuracy"].get<double>(), j["tool_call_exact_match"].get<double>());
  }

  // export --format peft: the same adapter folder train wrote.
  const std::string peft = path_join(work, "peft");
  auto r = run_cli({"export", "--model", model, "--patch", patch, "--format", "peft", "-o", peft});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_text_file(path_join(peft, "adapter_model.safetensors")),
            read_text_file(path_join(out, "peft/adapter_model.safetensors")));
  auto cfg = nlohmann::json::parse(read_text_file(path_join(peft, "adapter_config.json")));
  EXPECT_EQ(cfg["r"], 8);
  EXPECT_EQ(cfg["lora_alpha"].get<double>(), 16.0);
  EXPECT_EQ(cfg["target_modules"].size(), 35u);  // 5 layers x 7 projections

  // export --format merged: the merged model generates what base + patch generates.
  const std::string merged = path_join(work, "merged");
  r = run_cli({"export", "--model", model, "--patch", patch, "--format", "merged", "-o", merged});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string patched = greedy({"--model", model, "--patch", patch});
  EXPECT_EQ(greedy({"--model", merged}), patched);
  EXPECT_NE(greedy({"--model", model}), patched) << "the patch should change what the model generates";

  // Another base (one adapted matrix differs): refused naming it, unless --force.
  const std::string other = altered_copy(model, "model.layers.3.mlp.up_proj.weight");
  for (const std::vector<std::string>& cmd :
       {std::vector<std::string>{"export", "--model", other, "--patch", patch, "--format", "peft", "-o",
                                 path_join(work, "peft-other")},
        std::vector<std::string>{"generate", "--model", other, "--patch", patch, "--prompt", "Hi", "--max-tokens",
                                 "4", "--temperature", "0"}}) {
    SCOPED_TRACE(cmd[0]);
    r = run_cli(cmd);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("model.layers.3.mlp.up_proj"), std::string::npos) << r.err;
    std::vector<std::string> forced = cmd;
    forced.push_back("--force");
    r = run_cli(forced);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("model.layers.3.mlp.up_proj"), std::string::npos) << "--force still warns: " << r.err;
  }
}

// Ctrl-C: the running loop finishes its step, writes a checkpoint and exits 0; --resume goes on.
TEST(TrainCli, SigintCheckpointsAndResumeContinues) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  const std::string work = et::test::temp_dir("cli-sigint");
  const std::string out = path_join(work, "run");
  std::vector<std::string> args = stories_tools_train(model, out);
  args.insert(args.end(), {"--set", "data.eval_max_examples=8", "--set", "train.max_steps=100000", "--set",
                           "train.eval_every=0", "--set", "train.save_every=0"});
  int64_t stopped_at = 0;
  {
    Background run(args, "", work);
    // Wait for the first optimizer step to be logged, then press Ctrl-C.
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (read_metrics(path_join(out, "metrics.jsonl")).steps.empty() && std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_FALSE(read_metrics(path_join(out, "metrics.jsonl")).steps.empty()) << run.err();
    ASSERT_EQ(kill(run.pid, SIGINT), 0);
    const int code = run.wait(120);
    ASSERT_EQ(code, 0) << run.err();
    nlohmann::json s = summary(run.out());
    EXPECT_TRUE(s["interrupted"].get<bool>());
    stopped_at = s["steps"].get<int64_t>();
    EXPECT_GT(stopped_at, 0);
    EXPECT_LT(stopped_at, 100000);
    char name[64];
    std::snprintf(name, sizeof name, "checkpoints/step-%08lld.safetensors", static_cast<long long>(stopped_at));
    EXPECT_TRUE(file_exists(path_join(out, name))) << name;
    EXPECT_TRUE(file_exists(path_join(out, "patch.safetensors")));
    Metrics m = read_metrics(path_join(out, "metrics.jsonl"));
    ASSERT_FALSE(m.steps.empty());
    EXPECT_EQ(m.steps.back(), stopped_at);
  }
  // Resume up to two steps past the interruption.
  std::vector<std::string> resume = args;
  resume.push_back("--set");
  resume.push_back("train.max_steps=" + std::to_string(stopped_at + 2));
  resume.push_back("--resume");
  Background again(resume, "", work);
  ASSERT_EQ(again.wait(120), 0) << again.err();
  EXPECT_NE(again.err().find("resuming from"), std::string::npos) << again.err();
  nlohmann::json s = summary(again.out());
  EXPECT_EQ(s["steps"].get<int64_t>(), stopped_at + 2);
  EXPECT_FALSE(s["interrupted"].get<bool>());
  Metrics m = read_metrics(path_join(out, "metrics.jsonl"));
  std::vector<int64_t> want;
  for (int64_t k = 1; k <= stopped_at + 2; ++k) want.push_back(k);
  EXPECT_EQ(m.steps, want) << "every step once, continuing after the interruption";
}

TEST(TrainCli, BadRecipeKeysExitNonZeroNamingTheKey) {
  const std::string dir = et::test::temp_dir("cli-bad-recipe");
  const std::string recipe = path_join(et::test::source_dir(), "recipes/stories-tools.yaml");
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> want;  // in stderr
  };
  const std::string typo = path_join(dir, "typo.yaml");
  write_file_atomic(typo, "model:\n  path: x\ntrian:\n  max_steps: 3\n");
  const std::string nested = path_join(dir, "nested.yaml");
  write_file_atomic(nested, "model:\n  path: x\ntrain:\n  max_step: 3\n");
  const std::vector<Case> cases = {
      {{"train", recipe, "--set", "train.lrr=0.1"}, {"train.lrr", "train.lr"}},
      {{"train", recipe, "--set", "adapters.rnak=4"}, {"adapters.rnak", "adapters.rank"}},
      {{"train", recipe, "--set", "train.max_steps=many"}, {"train.max_steps"}},
      {{"train", recipe, "--set", "quant.backbone=int3"}, {"quant.backbone", "int3"}},
      {{"train", typo}, {"trian", typo}},
      {{"train", nested}, {"train.max_step", "train.max_steps"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args.back());
    auto r = run_cli(c.args);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.out, "") << "nothing on stdout when the recipe is refused";
    for (const auto& w : c.want) EXPECT_NE(r.err.find(w), std::string::npos) << w << " in: " << r.err;
  }
}

// A plan file fixes where the adapters go and their ranks; dropout is a training setting, so the
// recipe's adapters.dropout applies to a run that reads adapters.plan (and is recorded in its plan.json).
TEST(TrainCli, APlanFileTrainsWithTheRecipesDropout) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  const std::string work = et::test::temp_dir("cli-plan-dropout");
  auto train = [&](const std::string& name, const std::vector<std::string>& extra) {
    std::vector<std::string> args = stories_tools_train(model, path_join(work, name));
    args.insert(args.end(), {"--set", "train.max_steps=3", "--set", "train.eval_every=0", "--set",
                             "train.save_every=0", "--set", "output.export_peft=false"});
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return read_metrics(path_join(work, name + "/metrics.jsonl")).losses;
  };
  train("source", {});
  const std::string plan = path_join(work, "source/plan.json");
  ASSERT_EQ(nlohmann::json::parse(read_text_file(plan))["dropout"].get<double>(), 0.0);
  const std::vector<std::string> from_plan = {"--set", "adapters.policy=gradcut", "--set", "adapters.plan=" + plan};
  std::vector<std::string> with_dropout = from_plan;
  with_dropout.insert(with_dropout.end(), {"--set", "adapters.dropout=0.25"});
  const auto plain = train("plain", from_plan);
  const auto dropped = train("dropout", with_dropout);
  EXPECT_EQ(nlohmann::json::parse(read_text_file(path_join(work, "dropout/plan.json")))["dropout"].get<double>(),
            0.25);
  ASSERT_EQ(plain.size(), 3u);
  ASSERT_EQ(dropped.size(), 3u);
  // Step 1 starts from B = 0, where the adapter input (and its dropout) cannot change the output;
  // after one update the dropped-out adapter input changes the loss.
  EXPECT_DOUBLE_EQ(plain[0], dropped[0]);
  EXPECT_NE(plain[2], dropped[2]);
}
