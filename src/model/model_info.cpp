// Enumerations over a loaded model: its projections and its parameter count.
#include <set>

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
    }
  }
  return n;
}

}  // namespace et::model
