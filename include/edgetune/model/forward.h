// The forward pass, in pieces a trainer can recombine:
//   embed -> forward_layers(0, L) -> final_norm -> lm_head_logits
// forward_layers runs any range [begin, end) of decoder layers (so the layers below a cut can run
// under torch::NoGradGuard), and hidden_states() stops before the head (so a loss can be taken in
// chunks without materializing [tokens, vocab] logits).
//
// Per layer (transformers semantics):
//   Llama/Qwen:  x += o(attn(rope(qk_norm?(q(n1 x))), rope(..k..), v));  x += down(act(gate(n2 x)) * up(n2 x))
//   Gemma 3:     x += n2(o(attn(...)));  x += n4(down(act(gate(n3 x)) * up(n3 x)))
// where n1..n4 are input_layernorm, post_attention_layernorm, pre_/post_feedforward_layernorm.
#pragma once
#include <torch/types.h>

#include <array>

#include "edgetune/model/attention.h"
#include "edgetune/model/kv_cache.h"
#include "edgetune/model/model.h"
#include "ops/varlen_attention/varlen_attention.h"

namespace et::model {

struct ForwardInputs {
  // [B, T] int64 RoPE positions; undefined = cache length + 0..T-1 on every row. Packed sequences
  // pass positions that restart at 0 for each sequence.
  torch::Tensor positions;
  // [B, T] int64; a token attends only to earlier tokens with the same id (packed sequences).
  // Undefined = one sequence per row. Not combinable with a cache.
  torch::Tensor segment_ids;
  // When set, keys/values are appended to it and queries attend to everything cached before.
  KVCache* cache = nullptr;
  AttentionImpl attention = AttentionImpl::automatic;
  // The rows' sequences (the runs of segment_ids, or one per row) as cumulative offsets: when set
  // and uses_varlen_attention() holds, attention runs a variable-length kernel over them with RoPE fused
  // on the flat [B*T, heads, head_dim] layout, and no mask or RoPE table is built.
  const ops::VarlenSeqs* varlen = nullptr;
};

// True when forward_layers runs attention over in.varlen with a variable-length kernel: varlen set,
// no cache, the fast kernel path, no attention softcapping, and a CUDA bfloat16/float16 model (the
// flash kernel) or a CPU float32 one (the CPU kernel of ops/varlen_attention).
bool uses_varlen_attention(const Model& model, const ForwardInputs& in);

// input_ids [B, T] int64 -> [B, T, hidden] in the model's dtype (Gemma: times sqrt(hidden)).
// Ids outside the vocabulary are an error (check_ids: checked here, a device sync; callers that
// checked the ids on the host pass false).
torch::Tensor embed(const Model& model, const torch::Tensor& input_ids, bool check_ids = true);

// Runs decoder layers [begin, end) on hidden [B, T, hidden].
torch::Tensor forward_layers(const Model& model, const torch::Tensor& hidden, int begin, int end,
                             const ForwardInputs& in = {});

// For a backward through layer `layer` alone (gradient checkpointing's recompute): the two terms
// whose sum is the layer's output (forward_layers(model, hidden, layer, layer + 1, in)), recorded by
// autograd; backpropagate the output's gradient into both. The MLP's last projection is left
// uncomputed where no backward reads it (ops::OutputValue::unused), so a term's values are not
// the forward's: use them only for their gradients. No KV cache.
std::array<torch::Tensor, 2> layer_output_terms(const Model& model, const torch::Tensor& hidden, int layer,
                                                const ForwardInputs& in = {});

// x [B, T, C] -> [B, Q, C]: each batch row's rows at `index` ([B, Q] int64).
torch::Tensor gather_positions(const torch::Tensor& x, const torch::Tensor& index);

// Layer `layer` at the positions `queries` ([B, Q] int64 indices into the sequence) only: keys and
// values at all T positions, queries, attention output, MLP and residuals at the Q chosen ones.
// Returns [B, Q, hidden], equal to forward_layers(model, hidden, layer, layer + 1, in) gathered at
// `queries` (a position reads the others only through keys and values). No KV cache. What the
// loss needs of the last layer: the positions that predict a target.
torch::Tensor forward_layer_at(const Model& model, const torch::Tensor& hidden, int layer,
                               const torch::Tensor& queries, const ForwardInputs& in = {});

// Final RMSNorm.
torch::Tensor final_norm(const Model& model, const torch::Tensor& hidden);

// [.., hidden] normed hidden states -> [.., vocab] logits in the model's dtype (with final logit
// softcapping where the config has it).
torch::Tensor lm_head_logits(const Model& model, const torch::Tensor& normed);
// The head's weight [vocab, hidden]: lm_head, with the trainable token rows in place when the
// model has them (differentiable in the rows).
torch::Tensor head_weight(const Model& model);

// embed + all layers + final norm: [B, T, hidden].
torch::Tensor hidden_states(const Model& model, const torch::Tensor& input_ids, const ForwardInputs& in = {});

// Logits [B, T, vocab].
torch::Tensor forward(const Model& model, const torch::Tensor& input_ids, const ForwardInputs& in = {});

}  // namespace et::model
