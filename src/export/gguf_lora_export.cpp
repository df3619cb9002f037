#include "edgetune/export/gguf_lora_export.h"

#include <map>

#include "edgetune/core/error.h"
#include "edgetune/core/gguf.h"
#include "edgetune/model/config.h"
#include "edgetune/version.h"

namespace et {

std::string gguf_tensor_name(int layer, const std::string& type) {
  static const std::map<std::string, std::string> names = {
      {"q_proj", "attn_q"},      {"k_proj", "attn_k"},   {"v_proj", "attn_v"},    {"o_proj", "attn_output"},
      {"gate_proj", "ffn_gate"}, {"up_proj", "ffn_up"},  {"down_proj", "ffn_down"}};
  auto it = names.find(type);
  if (it == names.end()) fail("gguf_export", "no llama.cpp name for module type '", type, "'");
  return "blk." + std::to_string(layer) + "." + it->second + ".weight";
}

torch::Tensor llama_rope_permute_rows(const torch::Tensor& w, int64_t n_head) {
  const int64_t rows = w.size(0);
  ET_CHECK(rows % (2 * n_head) == 0, "gguf_export", rows, " rows do not split into ", n_head, " heads of pairs");
  return w.reshape({n_head, 2, rows / n_head / 2, w.size(1)}).transpose(1, 2).reshape(w.sizes()).contiguous();
}

void export_gguf_lora(const AdapterSet& adapters, const std::string& base_folder, const std::string& out_path) {
  if (adapters.token_rows.defined())
    fail("gguf_export", "the patch trains ", adapters.plan.token_ids.size(),
         " embedding rows (adapters.trainable_tokens), which a llama.cpp LoRA adapter cannot carry; export "
         "--format merged (then convert it to GGUF) or --format peft");
  const model::ModelConfig cfg = model::load_config(base_folder);
  std::string arch;
  switch (cfg.family) {
    case model::Family::llama: arch = "llama"; break;
    case model::Family::qwen2: arch = "qwen2"; break;
    case model::Family::qwen3: arch = "qwen3"; break;
    case model::Family::gemma3: arch = "gemma3"; break;
  }
  const Plan& plan = adapters.plan;
  // The file's alpha: the most common module alpha (no folding needed for those modules).
  std::map<double, int> freq;
  for (const auto& e : plan.entries)
    if (e.kind != AdapterKind::none) ++freq[e.alpha];
  if (freq.empty()) fail("gguf_export", "the plan adapts no matrix; there is nothing to export");
  double alpha = freq.begin()->first;
  for (const auto& kv : freq)
    if (kv.second > freq[alpha]) alpha = kv.first;

  std::vector<torch::Tensor> alive;
  std::vector<GgufTensorToWrite> tensors;
  auto add = [&](const std::string& name, torch::Tensor t) {
    t = t.detach().to(torch::kCPU).to(torch::kFloat32).contiguous();
    alive.push_back(t);
    tensors.push_back({name, GgmlType::f32, gguf_ne_from_shape({t.size(0), t.size(1)}), t.data_ptr(),
                       static_cast<size_t>(t.numel()) * 4});
  };
  for (const auto& e : plan.entries) {
    if (e.kind == AdapterKind::none) continue;
    LoraPair p = adapters.effective(e.module);
    torch::Tensor B = p.B.detach().to(torch::kCPU).to(torch::kFloat32) * (p.scale * e.rank / alpha);
    if (arch == "llama" && e.type == "q_proj") B = llama_rope_permute_rows(B, cfg.num_heads);
    if (arch == "llama" && e.type == "k_proj") B = llama_rope_permute_rows(B, cfg.num_kv_heads);
    const std::string base = gguf_tensor_name(e.layer, e.type);
    add(base + ".lora_a", p.A);
    add(base + ".lora_b", B);
  }
  std::vector<std::pair<std::string, GgufValue>> md = {
      {"general.architecture", GgufValue::of_string(arch)},
      {"general.type", GgufValue::of_string("adapter")},
      {"general.name", GgufValue::of_string("edgetune LoRA")},
      {"general.source.url", GgufValue::of_string(base_folder)},
      {"adapter.type", GgufValue::of_string("lora")},
      {"adapter.lora.alpha", GgufValue::of_f32(static_cast<float>(alpha))},
      {"edgetune.version", GgufValue::of_string(EDGETUNE_VERSION)},
  };
  write_gguf(out_path, md, tensors);
}

}  // namespace et
