// `edgetune retune` through the built binary, on a patch that a short `edgetune train` run makes on
// stories260K and on releases made from it with Gaussian noise (sized from the patch's own
// threshold): identical bases reuse; a small drift reuses, and --apply writes a patch that the new
// base accepts without --force and that generates what the old patch forced onto it generates,
// while the old patch is refused there naming `edgetune retune`; a large drift retunes, and
// --apply retrains on the new base (warm-started) into a patch that loads there and whose held-out
// loss (measured by `edgetune eval`) is no worse than the old patch's forced onto it.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "../retune/retune_test_util.h"
#include "edgetune/core/file_io.h"
#include "test_util.h"

using namespace et;
using et::test::run_cli;

namespace {

// The first `n` lines of a data/stories-tools file.
std::string head_lines(const std::string& file, int n, const std::string& out) {
  const std::string all = read_text_file(path_join(test::source_dir(), "data/stories-tools/" + file));
  size_t pos = 0;
  for (int i = 0; i < n && pos != std::string::npos; ++i) pos = all.find('\n', pos + 1);
  write_file_atomic(out, all.substr(0, pos == std::string::npos ? all.size() : pos + 1));
  return out;
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_text_file(path)); }

std::string greedy(const std::string& model, const std::string& patch, bool force) {
  std::vector<std::string> args = {"generate", "--model", model, "--patch", patch, "--prompt", "Once", "--max-tokens",
                                   "16", "--temperature", "0"};
  if (force) args.push_back("--force");
  auto r = run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

double eval_loss(const std::string& model, const std::string& patch, const std::string& data, bool force) {
  std::vector<std::string> args = {"eval", "--model", model, "--patch", patch, "--data", data, "--max-tokens", "4"};
  if (force) args.push_back("--force");
  auto r = run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out).at("eval_loss").get<double>();
}

}  // namespace

TEST(RetuneCli, ReusesSmallDriftRetrainsLargeDrift) {
  ET_REQUIRE_SHARED(base, "models/stories260K");
  const std::string dir = test::temp_dir("cli-retune");
  const std::string train = head_lines("train.jsonl", 24, path_join(dir, "train.jsonl"));
  const std::string eval = head_lines("eval.jsonl", 8, path_join(dir, "eval.jsonl"));
  const std::string recipe = path_join(dir, "recipe.yaml");
  write_file_atomic(recipe, "model:\n  path: " + base + "\n  device: cpu\nquant:\n  backbone: none\nadapters:\n  policy: all\n"
                            "  rank: 4\n  alpha: 8\ndata:\n  train: " + train + "\n  eval: " + eval +
                            "\n  max_seq_len: 128\ntrain:\n  max_steps: 8\n  batch_size: 4\n  lr: 1.0e-2\n"
                            "  warmup_steps: 0\n  eval_every: 0\noutput:\n  dir: " + path_join(dir, "run") + "\n");
  auto r = run_cli({"train", recipe});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string patch = path_join(dir, "run/patch.safetensors");

  // Identical bases: reuse, and the report and the JSON say why.
  const std::string j0 = path_join(dir, "same.json");
  r = run_cli({"retune", "--patch", patch, "--base-old", base, "--base-new", base, "--json", j0});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("decision   reuse"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model.layers.4.mlp.down_proj"), std::string::npos) << r.out;
  nlohmann::json same = read_json(j0);
  for (const char* k : {"decision", "statistic", "threshold", "mu_P", "sigma_P", "mu_D", "sigma_D", "options", "matrices"})
    EXPECT_TRUE(same.contains(k)) << k;
  EXPECT_EQ(same["decision"], "reuse");
  EXPECT_EQ(same["statistic"].get<double>(), 0.0);
  EXPECT_EQ(same["matrices"].size(), 35u);
  EXPECT_EQ(same["options"]["kappa"].get<double>(), 0.5);
  EXPECT_EQ(same["options"]["k"].get<double>(), 0.25);
  const double threshold = same["threshold"].get<double>();
  ASSERT_GT(threshold, 0.0);
  // Gaussian drift of variance s2 has the statistic s2 (1 + k sqrt 2).
  auto sigma_for = [&](double times_threshold) { return std::sqrt(times_threshold * threshold / (1 + 0.25 * std::sqrt(2.0))); };

  // Small drift: reuse; --apply writes the patch for the new base.
  const std::string small = test::noisy_copy(base, "cli-retune-small", sigma_for(0.1), test::is_projection, 1);
  const std::string reused = path_join(dir, "reused.safetensors");
  r = run_cli({"retune", "--patch", patch, "--base-old", base, "--base-new", small, "--apply", "-o", reused});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("decision   reuse"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("re-fingerprinted"), std::string::npos) << r.out;
  auto refused = run_cli({"generate", "--model", small, "--patch", patch, "--prompt", "Once", "--max-tokens", "4"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("edgetune retune"), std::string::npos) << refused.err;
  EXPECT_EQ(greedy(small, reused, false), greedy(small, patch, true));

  // Large drift: retune; --apply retrains on the new base.
  const std::string large = test::noisy_copy(base, "cli-retune-large", sigma_for(10), test::is_projection, 2);
  const std::string j1 = path_join(dir, "large.json");
  const std::string retuned = path_join(dir, "retuned/patch.safetensors");
  r = run_cli({"retune", "--patch", patch, "--base-old", base, "--base-new", large, "--json", j1});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("decision   retune"), std::string::npos) << r.out;
  EXPECT_FALSE(file_exists(retuned));
  make_dirs(parent_path(retuned));
  r = run_cli({"retune", "--patch", patch, "--base-old", base, "--base-new", large, "--apply", "-o", retuned, "--set",
               "train.max_steps=6", "--set", "train.lr=3e-3", "--json", j1});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json big = read_json(j1);
  EXPECT_EQ(big["decision"], "retune");
  EXPECT_GT(big["statistic"].get<double>(), big["threshold"].get<double>());
  const nlohmann::json& applied = big["applied"];
  EXPECT_EQ(applied["action"], "retrained");
  EXPECT_EQ(applied["steps"], 6);
  EXPECT_EQ(applied["plan"], "patch");
  EXPECT_EQ(applied["warm_start"]["copied"], 70);  // every tensor of the old patch
  EXPECT_TRUE(file_exists(path_join(dir, "retuned/metrics.jsonl")));
  ASSERT_TRUE(file_exists(retuned));
  greedy(large, retuned, false);  // loads on the new base without --force
  const double old_loss = eval_loss(large, patch, eval, true), new_loss = eval_loss(large, retuned, eval, false);
  EXPECT_LE(new_loss, old_loss);
  EXPECT_LE(applied["eval_loss"].get<double>(), applied["old_eval_loss"].get<double>());
  // The warm start is the old patch: the run's first held-out loss is the old patch's.
  EXPECT_NEAR(applied["start_eval_loss"].get<double>(), applied["old_eval_loss"].get<double>(), 1e-6 * applied["old_eval_loss"].get<double>());
}

TEST(RetuneCli, BadArgumentsAndBasesExitNonZeroNamingTheProblem) {
  const std::string dir = test::temp_dir("cli-retune-bad");
  const std::string a = test::noisy_copy(test::golden("llama"), "cli-retune-bad-a", 0.0, [](const std::string&) { return false; });
  model::Model m = model::load_model(a);
  const std::string patch = path_join(dir, "patch.safetensors");
  test::write_random_patch(a, test::mixed_plan(m), patch, 1);
  auto r = run_cli({"retune", "--patch", patch, "--base-old", a, "--base-new", a, "--apply"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("-o"), std::string::npos) << r.err;
  r = run_cli({"retune", "--patch", patch, "--base-old", a, "--base-new", test::golden("qwen2")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("tensor '"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  r = run_cli({"retune", "--patch", path_join(dir, "missing.safetensors"), "--base-old", a, "--base-new", a});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("missing.safetensors"), std::string::npos) << r.err;
  r = run_cli({"retune", "--patch", patch, "--base-old", a, "--base-new", a, "--kappa", "-1"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--kappa"), std::string::npos) << r.err;
}
