// GradCut end to end on real model folders: the calibration runs the scheduled number of steps,
// leaves exactly the keep count of each module type adapted, and the plan.json it writes holds
// all three assignments, reads back identically, and has totals that add up when recomputed
// here from the matrices and config.json with the formulas of cost_model.h written out again
// (also with warm-up adapters below the cut, which count as parameters but not in the step costs).
//
// Folders: tests/golden/llama (synthetic token data), ../shared/models/stories260K (the
// stories-tools data), the demo's base architecture with random weights, the pretrained demo base
// when scripts/demo.sh has built it, and any in $ET_GRADCUT_MODELS (colon-separated; the
// stories-tools data when the folder has a tokenizer, else synthetic tokens).
#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "edgetune/adapt/cost_model.h"
#include "edgetune/adapt/gradcut.h"
#include "edgetune/core/file_io.h"
#include "edgetune/model/config.h"
#include "edgetune/train/gradcut_calibration.h"
#include "test_util.h"

using namespace et;
using nlohmann::json;

namespace {

bool has_tokenizer(const std::string& folder) {
  return file_exists(path_join(folder, "tokenizer.json")) || file_exists(path_join(folder, "tokenizer.model"));
}

Recipe plan_recipe(const std::string& folder) {
  Recipe r;
  r.model.path = folder;
  // A folder with only config.json and a tokenizer (the demo's architecture before pretraining).
  if (!file_exists(path_join(folder, "model.safetensors")) &&
      !file_exists(path_join(folder, "model.safetensors.index.json")))
    r.model.init = "random";
  r.model.device = "cpu";
  r.model.dtype = "float32";
  r.quant.backbone = "nf4";
  r.adapters.policy = "gradcut";
  r.data.train = path_join(test::source_dir(), "data/stories-tools/train.jsonl");
  r.data.max_seq_len = 128;
  r.train.batch_size = 4;
  r.train.lr = 3e-3;
  r.train.seed = 3;
  r.output.dir = test::temp_dir("gradcut-plan");
  return r;
}

// A session on `folder`: the real tokenizer and data when there is a tokenizer, else 32 random
// token sequences whose second halves are targets.
TrainSession session_for(const std::string& folder) {
  Recipe r = plan_recipe(folder);
  if (has_tokenizer(folder)) return open_session(r);
  TrainSession s;
  s.recipe = r;
  model::LoadOptions lo;
  lo.quantize_nf4 = true;
  s.model = model::load_model(folder, lo);
  torch::manual_seed(11);
  for (int i = 0; i < 32; ++i) {
    TokenizedExample ex;
    const int64_t n = 16 + i % 17;
    auto ids = torch::randint(1, s.model.config.vocab_size, {n}, torch::kLong);
    for (int64_t t = 0; t < n; ++t) {
      ex.ids.push_back(static_cast<int32_t>(ids[t].item<int64_t>()));
      ex.target.push_back(t >= n / 2 ? 1 : 0);
    }
    s.train_examples.push_back(ex);
  }
  return s;
}

std::vector<std::string> model_folders() {
  std::vector<std::string> out = {path_join(test::source_dir(), "tests/golden/llama")};
  const std::string stories = test::shared_path("models/stories260K");
  if (!stories.empty()) {
    out.push_back(stories);
    // The demo's base architecture (data/demo-base-config.json), random weights, read through
    // stories260K's tokenizer (its ids fit the demo's 1024-entry vocabulary).
    const std::string demo = test::temp_dir("gradcut-demo-arch");
    write_file_atomic(path_join(demo, "config.json"),
                      read_text_file(path_join(test::source_dir(), "data/demo-base-config.json")));
    write_file_atomic(path_join(demo, "tokenizer.model"), read_text_file(path_join(stories, "tokenizer.model")));
    out.push_back(demo);
  }
  // The pretrained demo base, when scripts/demo.sh has made it in this checkout.
  const std::string demo_base = path_join(test::source_dir(), "data/cache/demo/base-run/model");
  if (file_exists(path_join(demo_base, "model.safetensors"))) out.push_back(demo_base);
  if (const char* env = std::getenv("ET_GRADCUT_MODELS")) {
    std::stringstream ss(env);
    std::string f;
    while (std::getline(ss, f, ':'))
      if (!f.empty()) out.push_back(f);
  }
  return out;
}

// cost_model.h's totals, recomputed from plan.json's matrices and config.json.
struct Recomputed {
  double forward = 0, backward = 0, bytes = 0;
  std::vector<double> layer_forward;  // the backbone's forward of each layer
  int64_t params = 0;
  int cut = 0;
  int warm = 0;  // warm-up adapters: parameters, but no part of the step costs (they freeze)
  int64_t warm_params = 0;
};

Recomputed recompute(const json& matrices, const json& shared, const model::ModelConfig& c, const json& totals) {
  const double h = c.hidden_size, I = c.intermediate_size, q = c.q_out(), kv = c.kv_out(), V = c.vocab_size;
  const int L = static_cast<int>(c.num_layers);
  const double T = totals.at("seq_len").get<double>();
  const double f = totals.at("target_fraction").get<double>(), bpe = totals.at("bytes_per_element").get<double>();
  const double g = c.gemma_norms ? 1 : 0, qk = c.qk_norm ? 1 : 0;
  // Mean keys per query in layer l (causal; a sliding window w < T: min(t, w) keys for query t).
  auto keys = [&](int l) {
    const bool sliding = c.layer_types.at(static_cast<size_t>(l)) == model::LayerType::sliding_attention;
    const double w = sliding && c.sliding_window > 0 ? static_cast<double>(c.sliding_window) : T;
    double sum = 0;
    for (int t = 1; t <= static_cast<int>(T); ++t) sum += std::min<double>(t, w);
    return sum / T;
  };
  // Backward of each stretch of layer l, top down: after down, after gate/up, after o, after
  // q/k/v, the whole layer; and the activations each keeps.
  auto after = [&](int l, const std::string& type) {
    double b = g * 8 * h;
    if (type == "down_proj") return b;
    b += 2 * I * h + 10 * I;
    if (type == "gate_proj" || type == "up_proj") return b;
    b += 4 * h * I + 8 * h + g * 8 * h;
    if (type == "o_proj") return b;
    b += 2 * q * h + 8 * keys(l) * q + 3 * (q + kv) + qk * 8 * (q + kv);
    if (type != "layer") return b;
    return b + 2 * h * (q + 2 * kv) + 8 * h;
  };
  auto kept = [&](const std::string& type) {
    double e = g * h;
    if (type == "down_proj") return e;
    e += 3 * I;
    if (type == "gate_proj" || type == "up_proj") return e;
    e += h + g * h;
    if (type == "o_proj") return e;
    e += 4 * q + qk * (q + kv);
    return type == "layer" ? e + h : e;
  };
  Recomputed r;
  r.forward = 4 * h + f * 2 * V * h;
  for (int l = 0; l < L; ++l) {
    r.layer_forward.push_back(2 * h * (q + 2 * kv) + 2 * q * h + 6 * h * I + 4 * keys(l) * q + 3 * (q + kv) + 6 * I +
                              (2 + 2 * g) * 4 * h + qk * 4 * (q + kv));
    r.forward += r.layer_forward.back();
  }
  r.cut = L;
  double forced = 0, forced_bytes = 0;
  std::map<std::string, bool> shared_used;
  for (const auto& m : matrices) {
    const std::string kind = m.at("assignment"), type = m.at("type");
    if (kind == "none") continue;
    const double rk = m.at("rank").get<double>(), in = m.at("in_features").get<double>(),
                 out = m.at("out_features").get<double>();
    const int layer = m.at("layer").get<int>();
    if (m.value("train_steps", 0) > 0) {  // a warm-up adapter: trained for a while, then frozen
      r.params += static_cast<int64_t>(rk * (in + out));
      r.warm_params += static_cast<int64_t>(rk * (in + out));
      ++r.warm;
      continue;
    }
    r.cut = std::min(r.cut, layer);
    r.forward += 2 * rk * (in + out);
    r.backward += 4 * rk * (in + out);
    r.bytes += (in + rk) * bpe;
    if (kind == "shared") {  // the vectors are folded into the shared factors once per forward
      r.params += static_cast<int64_t>(rk + out);
      shared_used[type] = true;
    } else {
      r.params += static_cast<int64_t>(rk * (in + out));
    }
    const std::string part = type == "q_proj" || type == "k_proj" || type == "v_proj" ? "q_proj" : type;
    double fl = 8 * h + f * 4 * V * h + after(layer, part), el = h * (1 + f) + kept(part);
    for (int l = layer + 1; l < L; ++l) {
      fl += after(l, "layer");
      el += kept("layer");
    }
    forced = std::max(forced, fl);
    forced_bytes = std::max(forced_bytes, el * bpe);
  }
  for (const auto& s : shared)
    if (shared_used[s.at("type").get<std::string>()])
      r.params += s.at("rank").get<int64_t>() * (s.at("in_features").get<int64_t>() + s.at("out_features").get<int64_t>());
  r.backward += forced;
  r.bytes += forced_bytes;
  return r;
}

void expect_close(double got, double want, const std::string& what) {
  EXPECT_NEAR(got, want, 1e-9 * std::max(1.0, std::abs(want))) << what;
}

}  // namespace

TEST(GradCutPlan, CalibratesAndWritesAPlanWhoseTotalsAddUp) {
  for (const std::string& folder : model_folders()) {
    SCOPED_TRACE(folder);
    TrainSession s = session_for(folder);
    const int L = static_cast<int>(s.model.config.num_layers);
    GradCutReport report;
    Plan plan = gradcut_plan(s, &report);
    EXPECT_TRUE(s.params.empty());

    // The schedule and the keep counts.
    const GradCutOptions& g = s.recipe.adapters.gradcut;
    Plan calib = gradcut_calibration_plan(empty_plan(s.model, s.recipe.adapters), g);
    EXPECT_EQ(report.steps, gradcut_calibration_steps(calib, g));
    std::map<std::string, int> adapted;
    for (const auto& e : plan.entries) adapted[e.type] += e.kind != AdapterKind::none;
    for (const auto& kv : gradcut_keep_counts(calib, g)) EXPECT_EQ(adapted[kv.first], kv.second) << kv.first;
    int pruned = 0;
    for (const auto& p : report.pruned) pruned += static_cast<int>(p.second.size());
    EXPECT_EQ(pruned, plan.count(AdapterKind::none));

    // plan.json: all three kinds, a faithful round trip, totals that add up.
    const std::string path = path_join(test::temp_dir("gradcut-json"), "plan.json");
    save_plan(plan, path);
    const json j = json::parse(read_text_file(path));
    std::map<std::string, int> kinds;
    for (const auto& m : j.at("matrices")) ++kinds[m.at("assignment").get<std::string>()];
    EXPECT_GT(kinds["dedicated"], 0);
    EXPECT_GT(kinds["shared"], 0);
    EXPECT_GT(kinds["none"], 0);
    EXPECT_EQ(kinds["dedicated"] + kinds["shared"] + kinds["none"], 7 * L);

    Plan back = load_plan(path);
    ASSERT_EQ(back.entries.size(), plan.entries.size());
    for (size_t i = 0; i < plan.entries.size(); ++i) {
      EXPECT_EQ(back.entries[i].kind, plan.entries[i].kind) << plan.entries[i].module;
      EXPECT_EQ(back.entries[i].rank, plan.entries[i].rank) << plan.entries[i].module;
      EXPECT_DOUBLE_EQ(back.entries[i].importance, plan.entries[i].importance) << plan.entries[i].module;
    }

    const json& t = j.at("totals");
    EXPECT_EQ(t.at("counts").at("dedicated").get<int>(), kinds["dedicated"]);
    EXPECT_EQ(t.at("counts").at("shared").get<int>(), kinds["shared"]);
    EXPECT_EQ(t.at("counts").at("none").get<int>(), kinds["none"]);
    const Recomputed ours = recompute(j.at("matrices"), j.at("shared"), s.model.config, t);
    EXPECT_EQ(t.at("trainable_parameters").get<int64_t>(), ours.params);
    EXPECT_EQ(j.at("trainable_parameters").get<int64_t>(), ours.params);
    EXPECT_EQ(t.at("cut_layer").get<int>(), ours.cut);
    EXPECT_EQ(j.at("cut_layer").get<int>(), ours.cut);
    EXPECT_GT(ours.cut, -1);
    expect_close(t.at("forward_flops").get<double>(), ours.forward, "forward FLOPs");
    expect_close(t.at("backward_flops").get<double>(), ours.backward, "backward FLOPs");
    expect_close(t.at("activation_bytes").get<double>(), ours.bytes, "activation bytes");
    double below_cut = 0;
    for (int l = 0; l < ours.cut; ++l) below_cut += ours.layer_forward[static_cast<size_t>(l)];
    EXPECT_GT(below_cut, 0);
    expect_close(t.at("forward_flops_cut_cache").get<double>(), ours.forward - below_cut, "forward with the cut cache");

    // The all-matrix LoRA column: every matrix dedicated at adapters.rank.
    json all = j.at("matrices");
    for (auto& m : all) {
      m["assignment"] = "dedicated";
      m["rank"] = s.recipe.adapters.rank;
    }
    const Recomputed base = recompute(all, json::array(), s.model.config, t);
    const json& b = t.at("all_matrix_lora");
    EXPECT_EQ(b.at("trainable_parameters").get<int64_t>(), base.params);
    EXPECT_EQ(b.at("cut_layer").get<int>(), 0);
    expect_close(b.at("forward_flops").get<double>(), base.forward, "all-matrix forward");
    expect_close(b.at("backward_flops").get<double>(), base.backward, "all-matrix backward");
    expect_close(b.at("activation_bytes").get<double>(), base.bytes, "all-matrix bytes");
    expect_close(t.at("saved_percent").at("backward_flops").get<double>(), 100 * (base.backward - ours.backward) / base.backward,
                 "saved backward");

    // Warm-up adapters below the cut: counted as parameters, left out of the step costs (the
    // totals describe a step after they froze), reported in their own block.
    Plan warm = plan;
    gradcut_add_warmup(warm, 7, s.recipe.adapters.rank, s.recipe.adapters.alpha);
    const json tw = plan_totals(warm, session_cost_shape(s), s.recipe.adapters.rank, s.recipe.adapters.alpha);
    const Recomputed w = recompute(warm.to_json().at("matrices"), j.at("shared"), s.model.config, tw);
    EXPECT_EQ(w.warm, 7 * ours.cut);
    EXPECT_EQ(w.cut, ours.cut);
    EXPECT_EQ(tw.at("cut_layer").get<int>(), ours.cut);
    EXPECT_EQ(tw.at("trainable_parameters").get<int64_t>(), w.params);
    EXPECT_EQ(w.params, ours.params + w.warm_params);
    EXPECT_EQ(tw.at("warmup").at("adapters").get<int>(), w.warm);
    EXPECT_EQ(tw.at("warmup").at("steps").get<int>(), 7);
    EXPECT_EQ(tw.at("warmup").at("trainable_parameters").get<int64_t>(), w.warm_params);
    EXPECT_EQ(tw.at("warmup").at("cut_layer").get<int>(), 0);
    expect_close(tw.at("forward_flops").get<double>(), ours.forward, "forward FLOPs after the warm-up");
    expect_close(tw.at("backward_flops").get<double>(), ours.backward, "backward FLOPs after the warm-up");
    expect_close(tw.at("activation_bytes").get<double>(), ours.bytes, "activation bytes after the warm-up");
    // The all-matrix column does not change: every adapter trains every step there.
    const json& bw = tw.at("all_matrix_lora");
    EXPECT_EQ(bw.at("cut_layer").get<int>(), 0);
    EXPECT_EQ(bw.at("trainable_parameters").get<int64_t>(), base.params);
    expect_close(bw.at("forward_flops").get<double>(), base.forward, "all-matrix forward with a warm-up");
    expect_close(bw.at("backward_flops").get<double>(), base.backward, "all-matrix backward with a warm-up");
    expect_close(bw.at("activation_bytes").get<double>(), base.bytes, "all-matrix bytes with a warm-up");

    // The plan trains: the optimizer gets exactly its parameter count.
    apply_plan(s, plan);
    int64_t n = 0;
    for (const auto& p : s.params) n += p.param.numel();
    EXPECT_EQ(n, ours.params);
  }
}
