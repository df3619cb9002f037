// Enumerations over a loaded model: its projections and its parameter count.
#include <set>

#include "edgetune/core/error.h"
#include "edgetune/model/model.h"

namespace et::model {

std::vector<Linear*> linear_layers(Model& model) {
  std::vector<Linear*> out;
  for (auto& l : model.layers)
    for (auto* lin : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj})
      out.push_back(lin);
  return out;
}

std::vector<const Linear*> linear_layers(const Model& model) {
  std::vector<const Linear*> out;
  for (Linear* lin : linear_layers(const_cast<Model&>(model))) out.push_back(lin);
  return out;
}

int64_t parameter_count(const Model& m) {
  std::set<const void*> seen;
  int64_t n = 0;
  auto add = [&](const torch::Tensor& t) {
    if (t.defined() && seen.insert(t.unsafeGetTensorImpl()).second) n += t.numel();
  };
  add(m.embed_tokens);
  add(m.norm);
  add(m.lm_head);
  for (const auto& l : m.layers) {
    for (const auto* t : {&l.input_layernorm, &l.post_attention_layernorm, &l.pre_feedforward_layernorm,
                          &l.post_feedforward_layernorm, &l.q_norm, &l.k_norm})
      add(*t);
    for (const auto* lin : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj}) {
      add(lin->weight);
      add(lin->bias);
      if (lin->nf4) n += lin->nf4->numel;
    }
  }
  return n;
}

std::vector<std::pair<std::string, torch::Tensor>> named_weights(const Model& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  const std::string& p = m.prefix;
  out.emplace_back(p + "embed_tokens.weight", m.embed_tokens);
  for (const auto& l : m.layers) {
    const std::string lp = p + "layers." + std::to_string(l.index) + ".";
    out.emplace_back(lp + "input_layernorm.weight", l.input_layernorm);
    for (const auto* lin : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj}) {
      ET_CHECK(lin->weight.defined(), "model", lin->name, " is NF4-quantized; its dense weight is not available");
      out.emplace_back(lin->weight_name(), lin->weight);
      if (lin->bias.defined()) out.emplace_back(lin->bias_name(), lin->bias);
    }
    if (l.q_norm.defined()) out.emplace_back(lp + "self_attn.q_norm.weight", l.q_norm);
    if (l.k_norm.defined()) out.emplace_back(lp + "self_attn.k_norm.weight", l.k_norm);
    out.emplace_back(lp + "post_attention_layernorm.weight", l.post_attention_layernorm);
    if (l.pre_feedforward_layernorm.defined()) out.emplace_back(lp + "pre_feedforward_layernorm.weight", l.pre_feedforward_layernorm);
    if (l.post_feedforward_layernorm.defined()) out.emplace_back(lp + "post_feedforward_layernorm.weight", l.post_feedforward_layernorm);
    for (const auto* lin : {&l.gate_proj, &l.up_proj, &l.down_proj}) {
      ET_CHECK(lin->weight.defined(), "model", lin->name, " is NF4-quantized; its dense weight is not available");
      out.emplace_back(lin->weight_name(), lin->weight);
      if (lin->bias.defined()) out.emplace_back(lin->bias_name(), lin->bias);
    }
  }
  out.emplace_back(p + "norm.weight", m.norm);
  if (!m.tied_head) out.emplace_back(m.head_name, m.lm_head);
  return out;
}

namespace {

torch::Tensor stack_rows(std::vector<Linear*> g) {
  for (Linear* l : g)
    if (!l->weight.defined() || l->weight.scalar_type() != g[0]->weight.scalar_type() ||
        l->weight.device() != g[0]->weight.device() || l->weight.requires_grad())
      return torch::Tensor();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> w;
  for (Linear* l : g) w.push_back(l->weight);
  torch::Tensor stacked = torch::cat(w, 0);
  int64_t row = 0;
  for (Linear* l : g) {
    l->weight = stacked.narrow(0, row, l->out_features);
    row += l->out_features;
  }
  return stacked;
}

}  // namespace

void fuse_projection_weights(Model& m) {
  for (DecoderLayer& l : m.layers) {
    if (!l.qkv_weight.defined()) l.qkv_weight = stack_rows({&l.q_proj, &l.k_proj, &l.v_proj});
    if (!l.gate_up_weight.defined()) l.gate_up_weight = stack_rows({&l.gate_proj, &l.up_proj});
  }
}

}  // namespace et::model
