// The forward pass in pieces (see forward.h): embedding, a range of decoder layers with the RoPE
// tables and masks of each attention type built once per call, final norm, head.
#include "edgetune/model/forward.h"

#include "decoder_layer.h"
#include "edgetune/core/error.h"
#include "edgetune/kernels/rmsnorm.h"

namespace et::model {

torch::Tensor embed(const Model& m, const torch::Tensor& ids) {
  ET_CHECK(ids.dim() == 2, "model", "input ids should be [batch, seq], got ", ids.sizes());
  ET_CHECK(ids.size(1) > 0, "model", "input ids are empty");
  ET_CHECK(ids.scalar_type() == torch::kInt64, "model", "input ids should be int64, got ", ids.scalar_type());
  const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
  ET_CHECK(lo >= 0 && hi < m.config.vocab_size, "model", "token id ", lo < 0 ? lo : hi,
           " is outside the vocabulary [0, ", m.config.vocab_size, ")");
  torch::Tensor x = torch::embedding(m.embed_tokens, ids.to(m.device));
  if (m.config.embed_scale != 1.0)  // Gemma: the float32 scale is cast to the compute dtype first
    x = x * torch::scalar_tensor(static_cast<float>(m.config.embed_scale), torch::kFloat32)
                .to(m.dtype)
                .to(m.device);
  return x;
}

torch::Tensor forward_layers(const Model& m, const torch::Tensor& hidden, int begin, int end,
                             const ForwardInputs& in) {
  const int n = static_cast<int>(m.layers.size());
  ET_CHECK(0 <= begin && begin <= end && end <= n, "model", "layer range [", begin, ", ", end,
           ") is outside the model's ", n, " layers");
  ET_CHECK(hidden.dim() == 3 && hidden.size(2) == m.config.hidden_size, "model", "hidden states should be [batch, seq, ",
           m.config.hidden_size, "], got ", hidden.sizes());
  if (begin == end) return hidden;
  const int64_t B = hidden.size(0), T = hidden.size(1);
  int64_t offset = 0;
  if (in.cache) {
    offset = kv_cache_length(*in.cache, begin);
    for (int l = begin; l < end; ++l)
      ET_CHECK(kv_cache_length(*in.cache, l) == offset, "model", "KV cache layer ", l, " holds ",
               kv_cache_length(*in.cache, l), " tokens, layer ", begin, " holds ", offset);
    ET_CHECK(!in.segment_ids.defined(), "model", "segment ids cannot be combined with a KV cache");
  }
  torch::Tensor positions = in.positions;
  if (positions.defined()) {
    ET_CHECK(positions.dim() == 2 && positions.size(0) == B && positions.size(1) == T, "model",
             "positions should be [", B, ", ", T, "], got ", positions.sizes());
    positions = positions.to(m.device, torch::kInt64);
  } else {
    positions = torch::arange(offset, offset + T, torch::TensorOptions().dtype(torch::kInt64).device(m.device))
                    .unsqueeze(0)
                    .expand({B, T});
  }
  if (in.segment_ids.defined())
    ET_CHECK(in.segment_ids.dim() == 2 && in.segment_ids.size(0) == B && in.segment_ids.size(1) == T, "model",
             "segment ids should be [", B, ", ", T, "], got ", in.segment_ids.sizes());

  // Tables and masks per attention type, built only for the types present in the range.
  RopeTables rope[2];
  AttentionMask mask[2];
  bool built[2] = {false, false};
  torch::Tensor x = hidden;
  for (int l = begin; l < end; ++l) {
    const DecoderLayer& layer = m.layers[static_cast<size_t>(l)];
    const int t = layer.type == LayerType::sliding_attention ? 1 : 0;
    if (!built[t]) {
      rope[t] = rope_tables(t ? m.inv_freq_sliding : m.inv_freq_full, positions, m.dtype);
      mask[t] = make_attention_mask(offset, T, offset + T, t ? m.config.sliding_window : 0, in.segment_ids, m.device);
      built[t] = true;
    }
    x = decoder_layer_forward(m, layer, x, {&rope[t], &mask[t], in.cache, in.attention});
  }
  return x;
}

torch::Tensor final_norm(const Model& m, const torch::Tensor& hidden) {
  return kernels::rmsnorm(hidden, m.norm, m.config.rms_norm_eps, m.config.norm_offset());
}

torch::Tensor lm_head_logits(const Model& m, const torch::Tensor& normed) {
  torch::Tensor logits = at::linear(normed, m.lm_head);
  const double cap = m.config.final_softcap;
  if (cap > 0) logits = torch::tanh(logits / cap) * cap;
  return logits;
}

torch::Tensor hidden_states(const Model& m, const torch::Tensor& ids, const ForwardInputs& in) {
  torch::Tensor x = forward_layers(m, embed(m, ids), 0, static_cast<int>(m.layers.size()), in);
  return final_norm(m, x);
}

torch::Tensor forward(const Model& m, const torch::Tensor& ids, const ForwardInputs& in) {
  return lm_head_logits(m, hidden_states(m, ids, in));
}

}  // namespace et::model
