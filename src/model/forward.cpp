// The forward pass in pieces (see forward.h): embedding, a range of decoder layers with the RoPE
// tables and masks of each attention type built once per call, final norm, head.
#include "edgetune/model/forward.h"

#include "decoder_layer.h"
#include "edgetune/core/error.h"
#include "ops/rmsnorm/rmsnorm.h"
#include "ops/common/kernel_path.h"

namespace et::model {

torch::Tensor embed(const Model& m, const torch::Tensor& ids, bool check_ids) {
  ET_CHECK(ids.dim() == 2, "model", "input ids should be [batch, seq], got ", ids.sizes());
  ET_CHECK(ids.size(1) > 0, "model", "input ids are empty");
  ET_CHECK(ids.scalar_type() == torch::kInt64, "model", "input ids should be int64, got ", ids.scalar_type());
  if (check_ids) {
    const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    ET_CHECK(lo >= 0 && hi < m.config.vocab_size, "model", "token id ", lo < 0 ? lo : hi,
             " is outside the vocabulary [0, ", m.config.vocab_size, ")");
  }
  torch::Tensor x = torch::embedding(m.embed_tokens, ids.to(m.device));
  if (m.token_rows.defined()) {
    // Tokens with a trained row read it (row k of the padded table is never selected).
    const torch::Tensor slot = m.token_slot.index({ids.to(m.device)});
    const torch::Tensor rows = torch::cat({m.token_rows.to(x.scalar_type()),
                                           torch::zeros({1, x.size(-1)}, x.options())});
    x = torch::where((slot < m.token_rows.size(0)).unsqueeze(-1), torch::embedding(rows, slot), x);
  }
  if (m.config.embed_scale != 1.0)  // Gemma: the float32 scale is cast to the compute dtype first
    x = x * torch::scalar_tensor(static_cast<float>(m.config.embed_scale), torch::kFloat32)
                .to(m.dtype)
                .to(m.device);
  return x;
}

namespace {

// [B, T] int64 RoPE positions on the model's device: the given ones, else offset + 0..T-1.
torch::Tensor layer_positions(const Model& m, int64_t B, int64_t T, int64_t offset, const ForwardInputs& in) {
  if (in.positions.defined()) {
    ET_CHECK(in.positions.dim() == 2 && in.positions.size(0) == B && in.positions.size(1) == T, "model",
             "positions should be [", B, ", ", T, "], got ", in.positions.sizes());
    return in.positions.to(m.device, torch::kInt64);
  }
  return torch::arange(offset, offset + T, torch::TensorOptions().dtype(torch::kInt64).device(m.device))
      .unsqueeze(0)
      .expand({B, T});
}

void check_hidden(const Model& m, const torch::Tensor& hidden, const ForwardInputs& in) {
  ET_CHECK(hidden.dim() == 3 && hidden.size(2) == m.config.hidden_size, "model", "hidden states should be [batch, seq, ",
           m.config.hidden_size, "], got ", hidden.sizes());
  if (in.segment_ids.defined())
    ET_CHECK(in.segment_ids.dim() == 2 && in.segment_ids.size(0) == hidden.size(0) &&
                 in.segment_ids.size(1) == hidden.size(1),
             "model", "segment ids should be [", hidden.size(0), ", ", hidden.size(1), "], got ",
             in.segment_ids.sizes());
}

}  // namespace

bool uses_varlen_attention(const Model& m, const ForwardInputs& in) {
  if (!in.varlen || in.cache || ops::kernel_path() != ops::KernelPath::fast) return false;
  if (m.config.attn_softcap > 0) return false;
  if (m.device.is_cpu()) return m.dtype == torch::kFloat32;  // the CPU kernel (ops/varlen_attention)
  if (!m.device.is_cuda() || (m.dtype != torch::kBFloat16 && m.dtype != torch::kFloat16)) return false;
  if (m.config.head_dim % 8 != 0 || m.config.head_dim > 256) return false;
  return ops::detail::flash_varlen_registered();
}

namespace {

// forward_layers; with `last_terms`, the last layer's two output terms go there instead (its MLP
// output left uncomputed where no backward reads it) and the result is undefined.
torch::Tensor run_layers(const Model& m, const torch::Tensor& hidden, int begin, int end, const ForwardInputs& in,
                         std::array<torch::Tensor, 2>* last_terms) {
  const int n = static_cast<int>(m.layers.size());
  ET_CHECK(0 <= begin && begin <= end && end <= n, "model", "layer range [", begin, ", ", end,
           ") is outside the model's ", n, " layers");
  check_hidden(m, hidden, in);
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
  const torch::Tensor positions = layer_positions(m, B, T, offset, in);
  torch::Tensor x = hidden;
  if (uses_varlen_attention(m, in)) {
    ET_CHECK(in.varlen->total() == B * T, "model", "the packed sequences cover ", in.varlen->total(),
             " tokens, the batch has ", B * T);
    const torch::Tensor flat = positions.reshape({-1}).contiguous();
    for (int l = begin; l < end; ++l) {
      LayerInputs li;
      li.varlen = in.varlen;
      li.flat_positions = &flat;
      const DecoderLayer& layer = m.layers[static_cast<size_t>(l)];
      if (last_terms && l + 1 == end) {
        *last_terms = decoder_layer_terms(m, layer, x, li, ops::OutputValue::unused);
        return {};
      }
      x = decoder_layer_forward(m, layer, x, li);
    }
    return x;
  }

  // Tables and masks per attention type, built only for the types present in the range.
  RopeTables rope[2];
  AttentionMask mask[2];
  bool built[2] = {false, false};
  for (int l = begin; l < end; ++l) {
    const DecoderLayer& layer = m.layers[static_cast<size_t>(l)];
    const int t = layer.type == LayerType::sliding_attention ? 1 : 0;
    if (!built[t]) {
      rope[t] = rope_tables(t ? m.inv_freq_sliding : m.inv_freq_full, positions, m.dtype);
      mask[t] = make_attention_mask(offset, T, offset + T, t ? m.config.sliding_window : 0, in.segment_ids, m.device);
      built[t] = true;
    }
    const LayerInputs li{&rope[t], &mask[t], in.cache, in.attention};
    if (last_terms && l + 1 == end) {
      *last_terms = decoder_layer_terms(m, layer, x, li, ops::OutputValue::unused);
      return {};
    }
    x = decoder_layer_forward(m, layer, x, li);
  }
  return x;
}

}  // namespace

torch::Tensor forward_layers(const Model& m, const torch::Tensor& hidden, int begin, int end,
                             const ForwardInputs& in) {
  return run_layers(m, hidden, begin, end, in, nullptr);
}

std::array<torch::Tensor, 2> layer_output_terms(const Model& m, const torch::Tensor& hidden, int layer,
                                                const ForwardInputs& in) {
  ET_CHECK(!in.cache, "model", "layer_output_terms runs without a KV cache");
  std::array<torch::Tensor, 2> terms;
  run_layers(m, hidden, layer, layer + 1, in, &terms);
  ET_CHECK(terms[0].defined() && terms[1].defined(), "model", "layer ", layer, " gave no output terms");
  return terms;
}

torch::Tensor gather_positions(const torch::Tensor& x, const torch::Tensor& index) {
  return x.gather(1, index.to(x.device()).unsqueeze(-1).expand({index.size(0), index.size(1), x.size(-1)}));
}

torch::Tensor forward_layer_at(const Model& m, const torch::Tensor& hidden, int layer, const torch::Tensor& queries,
                               const ForwardInputs& in) {
  ET_CHECK(0 <= layer && layer < static_cast<int>(m.layers.size()), "model", "layer ", layer,
           " is outside the model's ", m.layers.size(), " layers");
  check_hidden(m, hidden, in);
  ET_CHECK(!in.cache, "model", "a layer at chosen positions cannot run with a KV cache");
  const int64_t B = hidden.size(0), T = hidden.size(1);
  ET_CHECK(queries.dim() == 2 && queries.size(0) == B && queries.scalar_type() == torch::kInt64, "model",
           "query positions should be int64 [", B, ", Q], got ", queries.scalar_type(), " ", queries.sizes());
  const torch::Tensor q = queries.to(m.device);
  const DecoderLayer& l = m.layers[static_cast<size_t>(layer)];
  const bool sliding = l.type == LayerType::sliding_attention;
  const torch::Tensor positions = layer_positions(m, B, T, 0, in);
  const RopeTables rope = rope_tables(sliding ? m.inv_freq_sliding : m.inv_freq_full, positions, m.dtype);
  const RopeTables query_rope{gather_positions(rope.cos, q), gather_positions(rope.sin, q)};
  // The full [T, T] mask's rows at the queries: [B, 1, Q, T].
  AttentionMask full = make_attention_mask(0, T, T, sliding ? m.config.sliding_window : 0, in.segment_ids, m.device);
  torch::Tensor allowed = full.mask.defined()
                              ? full.mask
                              : torch::ones({1, 1, T, T}, torch::TensorOptions().dtype(torch::kBool).device(m.device)).tril();
  allowed = allowed.expand({B, 1, T, T}).gather(2, q.view({B, 1, -1, 1}).expand({B, 1, q.size(1), T}));
  const AttentionMask mask{allowed, false};
  return decoder_layer_forward(m, l, hidden, {&rope, &mask, nullptr, in.attention, &q, &query_rope});
}

torch::Tensor final_norm(const Model& m, const torch::Tensor& hidden) {
  return ops::rmsnorm(hidden, m.norm, m.config.rms_norm_eps, m.config.norm_offset());
}

torch::Tensor head_weight(const Model& m) {
  if (!m.token_rows.defined()) return m.lm_head;
  return m.lm_head.index_copy(0, m.token_ids, m.token_rows.to(m.lm_head.scalar_type()));
}

torch::Tensor lm_head_logits(const Model& m, const torch::Tensor& normed) {
  torch::Tensor logits = at::linear(normed, head_weight(m));
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
