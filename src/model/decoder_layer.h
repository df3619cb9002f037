// One decoder block: attention and MLP with their norms and residuals (formulas in forward.h).
#pragma once
#include <torch/types.h>

#include <array>

#include "edgetune/model/attention.h"
#include "edgetune/model/kv_cache.h"
#include "edgetune/model/model.h"
#include "edgetune/model/rope.h"
#include "ops/varlen_attention/varlen_attention.h"

namespace et::model {

// What a layer needs besides its weights: RoPE tables and mask for its attention type. With
// `queries` ([B, Q] sequence indices) the layer computes keys and values at every position and the
// rest only there: `query_rope` holds those positions' tables and `mask` has Q rows.
struct LayerInputs {
  const RopeTables* rope = nullptr;
  const AttentionMask* mask = nullptr;
  KVCache* cache = nullptr;
  AttentionImpl attention = AttentionImpl::automatic;
  const torch::Tensor* queries = nullptr;
  const RopeTables* query_rope = nullptr;
  // Varlen mode (forward.h, uses_varlen_attention): tokens flattened to [B*T], their RoPE positions
  // [B*T]; rope, mask and queries are unused.
  const ops::VarlenSeqs* varlen = nullptr;
  const torch::Tensor* flat_positions = nullptr;
};

torch::Tensor decoder_layer_forward(const Model& model, const DecoderLayer& layer, const torch::Tensor& x,
                                    const LayerInputs& in);

// The two terms the layer's output sums: the residual stream after attention and the MLP branch.
// mlp_output = OutputValue::unused: the MLP's last projection may leave its values uncomputed
// (for a backward only; not where a norm after the MLP reads them, as Gemma's).
std::array<torch::Tensor, 2> decoder_layer_terms(const Model& model, const DecoderLayer& layer, const torch::Tensor& x,
                                                 const LayerInputs& in, ops::OutputValue mlp_output);

}  // namespace et::model
