// Rotary position embedding, Hugging Face layout (rotate_half: the two halves of head_dim are
// the real and imaginary parts). For position p and frequency f_i:
//   cos/sin = cos(p f_i), sin(p f_i) for i < D/2, repeated for the second half,
//   rope(x) = x * cos + rotate_half(x) * sin,   rotate_half([a, b]) = [-b, a].
// Frequencies f_i = theta^(-2i/D), then by rope type:
//   linear: f_i / factor;
//   llama3: wavelength w_i = 2 pi / f_i; w_i > L/low  -> f_i / factor (low frequencies scaled);
//           w_i < L/high -> f_i (high frequencies kept); in between the blend
//           (1 - s) f_i / factor + s f_i with s = (L / w_i - low) / (high - low),
//           L = original_max_position_embeddings.
// Computed in float32 with the same operations as transformers, so the tables agree to the ulp.
#pragma once
#include <torch/types.h>

#include "edgetune/model/config.h"

namespace et::model {

// [head_dim / 2] float32 on CPU.
torch::Tensor rope_inv_freq(const RopeSpec& spec, int64_t head_dim);

struct RopeTables {
  torch::Tensor cos, sin;  // [B, T, head_dim] in the compute dtype
};

// positions [B, T] int64 (any device); inv_freq float32 on the same device.
RopeTables rope_tables(const torch::Tensor& inv_freq, const torch::Tensor& positions,
                       torch::ScalarType dtype);

// x [B, heads, T, head_dim] -> same shape.
torch::Tensor apply_rope(const torch::Tensor& x, const RopeTables& t);

}  // namespace et::model
