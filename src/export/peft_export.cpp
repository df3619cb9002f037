#include "edgetune/export/peft_export.h"

#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/log.h"
#include "edgetune/core/paths.h"
#include "edgetune/core/safetensors.h"
#include "edgetune/model/model_files.h"

namespace et {

using ojson = nlohmann::ordered_json;

namespace {

// "Qwen/Qwen2.5-0.5B": a Hugging Face hub id (owner/name), not a path on some machine.
bool is_hub_id(const std::string& s) {
  static const std::regex id("[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*");
  return std::regex_match(s, id) && s.find("..") == std::string::npos;
}

// What PEFT should load the base from: the model's own hub id when its config.json carries one
// (transformers writes `_name_or_path`, e.g. "Qwen/Qwen2.5-0.5B-Instruct"), else the folder's
// absolute path, so the adapter loads from wherever it is used (a relative path would resolve
// against the loader's current folder). A `_name_or_path` that is a path (the folder it was saved
// from, on the machine that saved it) names nothing here.
std::string peft_base_name(const std::string& base_path) {
  const std::string absolute = absolute_path(base_path);
  const std::string cfg_path = path_join(model::model_files_folder(base_path), "config.json");
  if (!file_exists(cfg_path)) return absolute;
  try {
    const auto cfg = nlohmann::json::parse(read_text_file(cfg_path));
    auto it = cfg.find("_name_or_path");
    if (it != cfg.end() && it->is_string() && is_hub_id(it->get<std::string>()) &&
        !file_exists(it->get<std::string>()))
      return it->get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    log_warn("[export] ", cfg_path, ": not valid JSON (", e.what(), "); naming the base by its path");
  }
  return absolute;
}

}  // namespace

void export_peft(const AdapterSet& adapters, const std::string& base_path, const std::string& out_dir) {
  const Plan& plan = adapters.plan;
  std::vector<const PlanEntry*> adapted;
  for (const auto& e : plan.entries)
    if (e.kind != AdapterKind::none) adapted.push_back(&e);
  if (adapted.empty()) fail("export", "the plan adapts no matrix; there is nothing to export");

  // The most common (rank, alpha) is the default; the others go into the patterns.
  std::map<std::pair<int, double>, int> freq;
  for (const auto* e : adapted) ++freq[{e->rank, e->alpha}];
  std::pair<int, double> def = freq.begin()->first;
  for (const auto& kv : freq)
    if (kv.second > freq[def]) def = kv.first;

  ojson rank_pattern = ojson::object(), alpha_pattern = ojson::object();
  ojson targets = ojson::array();
  std::vector<TensorToWrite> tensors;
  std::vector<torch::Tensor> alive;
  for (const auto* e : adapted) {
    targets.push_back(e->module);
    if (e->rank != def.first) rank_pattern[e->module] = e->rank;
    if (e->alpha != def.second) alpha_pattern[e->module] = e->alpha;
    LoraPair p = adapters.effective(e->module);
    for (auto [suffix, t] : {std::pair<const char*, torch::Tensor>{"lora_A", p.A}, {"lora_B", p.B}}) {
      auto c = t.detach().to(torch::kCPU).to(torch::kFloat32).contiguous();
      alive.push_back(c);
      tensors.push_back({"base_model.model." + e->module + "." + suffix + ".weight", DType::f32,
                         std::vector<int64_t>(c.sizes().begin(), c.sizes().end()), c.data_ptr(),
                         static_cast<size_t>(c.numel()) * 4});
    }
  }
  if (adapters.token_rows.defined()) {
    // PEFT's trainable tokens: the new rows under the embedding's token adapter (a tied head
    // follows them in PEFT as here).
    auto c = adapters.token_rows.detach().to(torch::kCPU).to(torch::kFloat32).contiguous();
    alive.push_back(c);
    tensors.push_back({"base_model.model." + plan.token_module + ".token_adapter.trainable_tokens_delta", DType::f32,
                       std::vector<int64_t>(c.sizes().begin(), c.sizes().end()), c.data_ptr(),
                       static_cast<size_t>(c.numel()) * 4});
  }
  ojson cfg;
  cfg["peft_type"] = "LORA";
  cfg["task_type"] = "CAUSAL_LM";
  cfg["base_model_name_or_path"] = peft_base_name(base_path);
  cfg["r"] = def.first;
  cfg["lora_alpha"] = def.second;
  cfg["lora_dropout"] = plan.dropout;
  cfg["use_rslora"] = plan.rslora;
  cfg["target_modules"] = targets;
  cfg["rank_pattern"] = rank_pattern;
  cfg["alpha_pattern"] = alpha_pattern;
  cfg["bias"] = "none";
  cfg["fan_in_fan_out"] = false;
  cfg["init_lora_weights"] = true;
  cfg["inference_mode"] = true;
  cfg["modules_to_save"] = nullptr;
  cfg["layers_to_transform"] = nullptr;
  cfg["use_dora"] = false;
  cfg["revision"] = nullptr;
  if (adapters.token_rows.defined()) cfg["trainable_token_indices"] = plan.token_ids;
  make_dirs(out_dir);
  write_safetensors(path_join(out_dir, "adapter_model.safetensors"), tensors, {{"format", "pt"}});
  write_file_atomic(path_join(out_dir, "adapter_config.json"), cfg.dump(2) + "\n");
}

}  // namespace et
