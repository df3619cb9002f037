// The PEFT adapter folder, read the way PEFT reads it: target_modules picks the modules (exact name
// or a ".name" suffix), rank_pattern / alpha_pattern override r / lora_alpha for the module a key
// matches (the regex "(.*\.)?(key)$", PEFT's get_pattern_key), the scale is lora_alpha / r
// (lora_alpha / sqrt(r) with use_rslora), and each module computes x A^T B^T * scale. Applying
// those tensors as plain dedicated LoRA hooks reproduces the forward of the exported adapters,
// shared ones included (their exact per-module form).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <unistd.h>

#include "edgetune/core/safetensors.h"
#include "edgetune/export/peft_export.h"
#include "edgetune/model/forward.h"
#include "export_test_util.h"

using namespace et;
using namespace et::test;

namespace {

// PEFT's get_pattern_key: the first pattern key that matches the end of the module name.
const nlohmann::json* pattern_value(const nlohmann::json& pattern, const std::string& module) {
  for (auto it = pattern.begin(); it != pattern.end(); ++it)
    if (std::regex_match(module, std::regex("(.*\\.)?(" + it.key() + ")"))) return &it.value();
  return nullptr;
}

bool targeted(const nlohmann::json& targets, const std::string& module) {
  for (const auto& t : targets) {
    const std::string s = t.get<std::string>();
    if (module == s || (module.size() > s.size() && module.compare(module.size() - s.size() - 1, s.size() + 1, "." + s) == 0))
      return true;
  }
  return false;
}

struct PeftModule {
  torch::Tensor A, B;
  double scale;
};

// Reads <dir> as PEFT would, for the linear layers of `m`.
std::map<std::string, PeftModule> read_peft(const std::string& dir, model::Model& m) {
  auto cfg = nlohmann::json::parse(read_text_file(path_join(dir, "adapter_config.json")));
  EXPECT_EQ(cfg["peft_type"], "LORA");
  EXPECT_EQ(cfg["task_type"], "CAUSAL_LM");
  EXPECT_EQ(cfg["bias"], "none");
  EXPECT_EQ(cfg["use_dora"], false);
  EXPECT_EQ(cfg["fan_in_fan_out"], false);
  SafetensorsFile f(path_join(dir, "adapter_model.safetensors"));
  std::map<std::string, PeftModule> out;
  size_t used_tensors = 0;
  for (model::Linear* lin : model::linear_layers(m)) {
    if (!targeted(cfg["target_modules"], lin->name)) continue;
    const nlohmann::json* rp = pattern_value(cfg["rank_pattern"], lin->name);
    const nlohmann::json* ap = pattern_value(cfg["alpha_pattern"], lin->name);
    const int r = rp ? rp->get<int>() : cfg["r"].get<int>();
    const double alpha = ap ? ap->get<double>() : cfg["lora_alpha"].get<double>();
    const double scale = cfg["use_rslora"].get<bool>() ? alpha / std::sqrt(static_cast<double>(r)) : alpha / r;
    auto read = [&](const std::string& key, std::vector<int64_t> shape) {
      const TensorInfo& t = f.get(key);
      EXPECT_EQ(t.dtype, DType::f32) << key;
      EXPECT_EQ(t.shape, shape) << key;
      std::vector<float> v = f.read_f32(key);
      ++used_tensors;
      return torch::from_blob(v.data(), t.shape, torch::kFloat32).clone();
    };
    const std::string base = "base_model.model." + lin->name;
    out[lin->name] = {read(base + ".lora_A.weight", {r, lin->in_features}),
                      read(base + ".lora_B.weight", {lin->out_features, r}), scale};
  }
  EXPECT_EQ(used_tensors, f.tensors().size()) << "tensors that no targeted module uses";
  return out;
}

void attach_hooks(model::Model& m, const std::map<std::string, PeftModule>& mods) {
  for (model::Linear* lin : model::linear_layers(m)) {
    auto it = mods.find(lin->name);
    if (it == mods.end()) continue;
    PeftModule p = it->second;
    lin->adapter = [p](const torch::Tensor& x, const torch::Tensor& y) {
      return y + at::matmul(at::matmul(x, p.A.t()), p.B.t()) * p.scale;
    };
  }
}

}  // namespace

TEST(PeftExport, PeftTensorsReproduceTheAdapterForward) {
  std::vector<std::string> folders = {golden("llama"), golden("qwen2"), golden("gemma3")};
  const std::string s = shared_path("models/stories260K");
  if (!s.empty()) folders.push_back(s);
  for (const auto& folder : folders) {
    for (bool rslora : {false, true}) {
      SCOPED_TRACE(folder + (rslora ? " rslora" : ""));
      model::Model m = model::load_model(folder);
      Plan plan = mixed_plan(m, rslora);
      AdapterSet a = create_adapters(plan, 2, torch::kCPU);
      randomize(a, 9);
      const std::string dir = temp_dir("peft");
      export_peft(a, folder, dir);
      auto cfg = nlohmann::json::parse(read_text_file(path_join(dir, "adapter_config.json")));
      EXPECT_EQ(cfg["base_model_name_or_path"], folder);
      EXPECT_EQ(cfg["use_rslora"], rslora);
      // Exactly the adapted matrices are targets.
      std::set<std::string> want, got;
      for (const auto& e : plan.entries)
        if (e.kind != AdapterKind::none) want.insert(e.module);
      for (const auto& t : cfg["target_modules"]) got.insert(t.get<std::string>());
      EXPECT_EQ(got, want);

      torch::Tensor ids = sample_ids(m, 2, 10, 3);
      torch::NoGradGuard g;
      attach_adapters(m, a);
      torch::Tensor ours = model::forward(m, ids);
      detach_adapters(m);
      auto mods = read_peft(dir, m);
      EXPECT_EQ(mods.size(), want.size());
      // Ranks and scales as PEFT resolves them equal the plan's.
      for (const auto& e : plan.entries) {
        if (e.kind == AdapterKind::none) continue;
        const PeftModule& p = mods.at(e.module);
        EXPECT_EQ(p.A.size(0), e.rank) << e.module;
        EXPECT_DOUBLE_EQ(p.scale, plan.scale(e.rank, e.alpha)) << e.module;
      }
      attach_hooks(m, mods);
      torch::Tensor peft = model::forward(m, ids);
      EXPECT_LT(max_abs_diff(peft, ours), 1e-5 * std::max(1.0, ours.abs().max().item<double>()));
      detach_adapters(m);
      EXPECT_GT(max_abs_diff(model::forward(m, ids), ours), 1e-3) << "the adapters must change the output";
    }
  }
}

TEST(PeftExport, UniformPlanHasNoPatternsAndNothingAdaptedIsAnError) {
  model::Model m = model::load_model(golden("llama"));
  AdapterOptions o;
  o.rank = 4;
  o.alpha = 12;
  Plan p = plan_all(m, o);
  AdapterSet a = create_adapters(p, 0, torch::kCPU);
  const std::string dir = temp_dir("peft-all");
  export_peft(a, golden("llama"), dir);
  auto cfg = nlohmann::json::parse(read_text_file(path_join(dir, "adapter_config.json")));
  EXPECT_EQ(cfg["r"], 4);
  EXPECT_EQ(cfg["lora_alpha"].get<double>(), 12.0);
  EXPECT_TRUE(cfg["rank_pattern"].empty());
  EXPECT_TRUE(cfg["alpha_pattern"].empty());
  EXPECT_EQ(cfg["target_modules"].size(), 21u);
  SafetensorsFile f(path_join(dir, "adapter_model.safetensors"));
  EXPECT_EQ(f.tensors().size(), 42u);
  // B = 0 of a fresh adapter is exported as zeros.
  std::vector<float> b = f.read_f32("base_model.model.model.layers.2.mlp.down_proj.lora_B.weight");
  for (float x : b) ASSERT_EQ(x, 0.0f);

  Plan none = empty_plan(m, o);
  AdapterSet empty = create_adapters(none, 0, torch::kCPU);
  EXPECT_THROW(export_peft(empty, golden("llama"), temp_dir("peft-none")), et::Error);
}

// A rank-pattern key must not capture other modules whose names share a suffix pattern: with
// 12 layers, "model.layers.1.self_attn.q_proj" must not match layer 11's.
TEST(PeftExport, PatternKeysMatchOnlyTheirModule) {
  auto cfg = nlohmann::json::parse(read_text_file(path_join(golden("llama"), "config.json")));
  cfg["num_hidden_layers"] = 12;
  const std::string dir = temp_dir("peft-12");
  write_file_atomic(path_join(dir, "config.json"), cfg.dump());
  model::LoadOptions lo;
  lo.init_random = true;
  model::Model m = model::load_model(dir, lo);
  AdapterOptions o;
  o.rank = 4;
  o.alpha = 8;
  Plan p = plan_all(m, o);
  for (auto& e : p.entries)
    if (e.layer == 1 && e.type == "q_proj") e.rank = 2;  // the one exception
  AdapterSet a = create_adapters(p, 0, torch::kCPU);
  randomize(a, 3);
  const std::string out = temp_dir("peft-12-out");
  export_peft(a, dir, out);
  auto mods = read_peft(out, m);
  EXPECT_EQ(mods.size(), 84u);
  for (const auto& e : p.entries) EXPECT_EQ(mods.at(e.module).A.size(0), e.rank) << e.module;
}

// base_model_name_or_path is what PEFT loads the base from, wherever the adapter is used: the hub
// id of the model's config.json (`_name_or_path`) when it has one, else the folder's absolute path
// (never a relative path, nor a path from the machine that saved the config).
TEST(PeftExport, BaseModelNameIsTheHubIdOrAnAbsolutePath) {
  model::Model m = model::load_model(golden("llama"));
  AdapterOptions o;
  o.rank = 2;
  AdapterSet a = create_adapters(plan_all(m, o), 0, torch::kCPU);
  const std::string parent = temp_dir("peft-name");
  const std::string folder = path_join(parent, "base");
  make_dirs(folder);
  auto cfg = nlohmann::json::parse(read_text_file(path_join(golden("llama"), "config.json")));
  auto base_name = [&](const nlohmann::json& name_or_path, const std::string& spelled) {
    nlohmann::json c = cfg;
    if (!name_or_path.is_null()) c["_name_or_path"] = name_or_path;
    write_file_atomic(path_join(folder, "config.json"), c.dump());
    const std::string out = temp_dir("peft-name-out");
    export_peft(a, spelled, out);
    return nlohmann::json::parse(read_text_file(path_join(out, "adapter_config.json")))["base_model_name_or_path"]
        .get<std::string>();
  };
  EXPECT_EQ(base_name("meta-llama/Llama-3.2-1B-Instruct", folder), "meta-llama/Llama-3.2-1B-Instruct");
  EXPECT_EQ(base_name("/home/someone/models/llama", folder), folder);
  EXPECT_EQ(base_name("./llama", folder), folder);
  EXPECT_EQ(base_name(nullptr, folder), folder);
  // A relative spelling of the folder is written absolute.
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(::chdir(parent.c_str()), 0);
  const std::string from_relative = base_name(nullptr, "base");
  ASSERT_EQ(::chdir(cwd), 0);
  EXPECT_EQ(from_relative, folder);
}
