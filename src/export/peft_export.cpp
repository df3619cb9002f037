#include "edgetune/export/peft_export.h"

#include <map>
#include <nlohmann/json.hpp>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/safetensors.h"

namespace et {

using ojson = nlohmann::ordered_json;

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
  ojson cfg;
  cfg["peft_type"] = "LORA";
  cfg["task_type"] = "CAUSAL_LM";
  cfg["base_model_name_or_path"] = base_path;
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
  make_dirs(out_dir);
  write_safetensors(path_join(out_dir, "adapter_model.safetensors"), tensors, {{"format", "pt"}});
  write_file_atomic(path_join(out_dir, "adapter_config.json"), cfg.dump(2) + "\n");
}

}  // namespace et
