// One decoder block (Llama / Qwen2 / Qwen3 / Gemma 3), formulas in forward.h. Every RMSNorm goes
// through et::ops::rmsnorm with the family's weight offset (Gemma: 1 + w).
#include "decoder_layer.h"

#include "ops/glu/glu.h"
#include "ops/rmsnorm/rmsnorm.h"
#include "edgetune/model/forward.h"
#include "edgetune/model/linear.h"
#include "ops/rope/rope.h"

#include <optional>

namespace et::model {

namespace {

torch::Tensor activation(const torch::Tensor& x, Activation a) {
  switch (a) {
    case Activation::silu: return torch::silu(x);
    case Activation::gelu_tanh: return torch::gelu(x, "tanh");
    case Activation::gelu: return torch::gelu(x);
  }
  return x;
}

// One projection: through the fused LoRA linear when it applies (one autograd node; its adapter's
// input gradient accumulated into the base GEMM's), else linear_forward. The same path with and
// without autograd, so a forward without gradients (eval, the cut-layer cache) computes the same.
// output: OutputValue::unused lets the fused path leave the values uncomputed (a caller that only
// backpropagates through them); the unfused one computes them anyway.
torch::Tensor project(const Linear& lin, const torch::Tensor& x, ops::OutputValue output = ops::OutputValue::computed) {
  if (linear_group_fusable({&lin})) return linear_group_forward({&lin}, x, {}, output);
  return linear_forward(lin, x);
}

std::optional<ops::GluActivation> glu_of(Activation a) {
  if (a == Activation::silu) return ops::GluActivation::silu;
  if (a == Activation::gelu_tanh) return ops::GluActivation::gelu_tanh;
  return std::nullopt;
}

// down(act(gate(h)) * up(h)). Fused: gate and up as one group GEMM into [.., 2I], the gated
// activation on that packed tensor (its backward writes the group's gradient whole), then down.
// output: as project's, for down.
torch::Tensor mlp(const DecoderLayer& l, const torch::Tensor& h, Activation a, ops::OutputValue output) {
  const auto act = glu_of(a);
  if (act && linear_group_fusable({&l.gate_proj, &l.up_proj})) {
    const torch::Tensor gu = linear_group_forward({&l.gate_proj, &l.up_proj}, h, l.gate_up_weight);
    return project(l.down_proj, ops::glu_packed(gu, *act), output);
  }
  const torch::Tensor g = linear_forward(l.gate_proj, h), u = linear_forward(l.up_proj, h);
  if (act) return linear_forward(l.down_proj, ops::glu(g, u, *act));
  return linear_forward(l.down_proj, activation(g, a) * u);
}

// Attention over packed sequences on the flat [B*T, heads, D] layout: RoPE fused, the flash
// kernel with sequence offsets, no transposes and no mask. Without q/k norms the three
// projections run as one group GEMM whose output RoPE splits (its backward writes the group's
// gradient whole).
torch::Tensor self_attention_varlen(const Model& m, const DecoderLayer& l, const torch::Tensor& h, const LayerInputs& in) {
  const ModelConfig& c = m.config;
  const int64_t B = h.size(0), T = h.size(1), D = c.head_dim;
  const bool sliding = l.type == LayerType::sliding_attention;
  const torch::Tensor& inv_freq = sliding ? m.inv_freq_sliding : m.inv_freq_full;
  torch::Tensor q, k, v;
  if (!c.qk_norm && linear_group_fusable({&l.q_proj, &l.k_proj, &l.v_proj})) {
    const torch::Tensor y = linear_group_forward({&l.q_proj, &l.k_proj, &l.v_proj}, h, l.qkv_weight);
    const auto qkv = ops::rope_qkv(y.view({B * T, -1}), c.num_heads, c.num_kv_heads, *in.flat_positions, inv_freq);
    q = qkv[0], k = qkv[1], v = qkv[2];
  } else {
    q = project(l.q_proj, h).view({B * T, c.num_heads, D});
    k = project(l.k_proj, h).view({B * T, c.num_kv_heads, D});
    v = project(l.v_proj, h).view({B * T, c.num_kv_heads, D});
    if (c.qk_norm) {
      q = ops::rmsnorm(q, l.q_norm, c.rms_norm_eps, c.norm_offset());
      k = ops::rmsnorm(k, l.k_norm, c.rms_norm_eps, c.norm_offset());
    }
    q = ops::rope(q, *in.flat_positions, inv_freq);
    k = ops::rope(k, *in.flat_positions, inv_freq);
  }
  torch::Tensor a = ops::varlen_attention(q, k, v, *in.varlen, c.attn_scale, sliding ? c.sliding_window : 0);
  return project(l.o_proj, a.view({B, T, c.num_heads * D}));
}

torch::Tensor self_attention(const Model& m, const DecoderLayer& l, const torch::Tensor& h, const LayerInputs& in) {
  if (in.varlen) return self_attention_varlen(m, l, h, in);
  const ModelConfig& c = m.config;
  const int64_t B = h.size(0), T = h.size(1), D = c.head_dim;
  const torch::Tensor hq = in.queries ? gather_positions(h, *in.queries) : h;
  const int64_t Q = hq.size(1);
  // [B, T, heads, D] (queries [B, Q, heads, D]); q/k norms act per head, before RoPE.
  torch::Tensor q = project(l.q_proj, hq).view({B, Q, c.num_heads, D});
  torch::Tensor k = project(l.k_proj, h).view({B, T, c.num_kv_heads, D});
  torch::Tensor v = project(l.v_proj, h).view({B, T, c.num_kv_heads, D});
  if (c.qk_norm) {
    q = ops::rmsnorm(q, l.q_norm, c.rms_norm_eps, c.norm_offset());
    k = ops::rmsnorm(k, l.k_norm, c.rms_norm_eps, c.norm_offset());
  }
  q = apply_rope(q.transpose(1, 2), in.queries ? *in.query_rope : *in.rope);
  k = apply_rope(k.transpose(1, 2), *in.rope);
  v = v.transpose(1, 2);
  if (in.cache) std::tie(k, v) = kv_cache_append(*in.cache, l.index, k, v);
  torch::Tensor a = attention(q, k, v, *in.mask, c.attn_scale, c.attn_softcap, in.attention);
  return project(l.o_proj, a.transpose(1, 2).reshape({B, Q, c.num_heads * D}));
}

}  // namespace

std::array<torch::Tensor, 2> decoder_layer_terms(const Model& m, const DecoderLayer& l, const torch::Tensor& x,
                                                 const LayerInputs& in, ops::OutputValue mlp_output) {
  const ModelConfig& c = m.config;
  const double eps = c.rms_norm_eps, off = c.norm_offset();
  torch::Tensor a = self_attention(m, l, ops::rmsnorm(x, l.input_layernorm, eps, off), in);
  const torch::Tensor xq = in.queries ? gather_positions(x, *in.queries) : x;  // the residual
  if (c.gemma_norms) {  // the post-feedforward norm's backward reads the MLP's output: computed
    torch::Tensor h = xq + ops::rmsnorm(a, l.post_attention_layernorm, eps, off);
    torch::Tensor f = mlp(l, ops::rmsnorm(h, l.pre_feedforward_layernorm, eps, off), c.activation,
                          ops::OutputValue::computed);
    return {h, ops::rmsnorm(f, l.post_feedforward_layernorm, eps, off)};
  }
  torch::Tensor h = xq + a;
  return {h, mlp(l, ops::rmsnorm(h, l.post_attention_layernorm, eps, off), c.activation, mlp_output)};
}

torch::Tensor decoder_layer_forward(const Model& m, const DecoderLayer& l, const torch::Tensor& x,
                                    const LayerInputs& in) {
  const auto t = decoder_layer_terms(m, l, x, in, ops::OutputValue::computed);
  return t[0] + t[1];
}

}  // namespace et::model
