// RoPE frequencies and rotation (formulas in rope.h). The scalar-with-tensor operations mirror
// transformers' modeling_rope_utils term by term ("a / t" in Python is t.reciprocal() * a).
#include "edgetune/model/rope.h"

#include <cmath>

#include "edgetune/core/error.h"

namespace et::model {

torch::Tensor rope_inv_freq(const RopeSpec& spec, int64_t head_dim) {
  ET_CHECK(head_dim > 0 && head_dim % 2 == 0, "rope", "head_dim ", head_dim, " must be positive and even");
  auto exps = torch::arange(0, head_dim, 2, torch::kInt64).to(torch::kFloat32) / static_cast<double>(head_dim);
  torch::Tensor inv = torch::reciprocal(torch::pow(spec.theta, exps));
  if (spec.type == RopeType::linear) return inv / spec.factor;
  if (spec.type != RopeType::llama3) return inv;

  const double old_len = static_cast<double>(spec.original_max_position_embeddings);
  const double low_wavelen = old_len / spec.low_freq_factor;
  const double high_wavelen = old_len / spec.high_freq_factor;
  torch::Tensor wavelen = torch::reciprocal(inv) * (2.0 * M_PI);
  torch::Tensor scaled = torch::where(wavelen > low_wavelen, inv / spec.factor, inv);
  torch::Tensor smooth = (torch::reciprocal(wavelen) * old_len - spec.low_freq_factor) /
                         (spec.high_freq_factor - spec.low_freq_factor);
  torch::Tensor smoothed = (1.0 - smooth) * scaled / spec.factor + smooth * scaled;
  torch::Tensor medium = torch::logical_not(wavelen < high_wavelen) * torch::logical_not(wavelen > low_wavelen);
  return torch::where(medium, smoothed, scaled);
}

RopeTables rope_tables(const torch::Tensor& inv_freq, const torch::Tensor& positions, torch::ScalarType dtype) {
  ET_CHECK(positions.dim() == 2, "rope", "positions should be [batch, seq], got ", positions.sizes());
  torch::Tensor freqs = positions.to(torch::kFloat32).unsqueeze(-1) * inv_freq.to(torch::kFloat32);
  torch::Tensor emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

torch::Tensor apply_rope(const torch::Tensor& x, const RopeTables& t) {
  const int64_t half = x.size(-1) / 2;
  torch::Tensor rotated = torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
  torch::Tensor cos = t.cos.unsqueeze(1), sin = t.sin.unsqueeze(1);
  return x * cos + rotated * sin;
}

}  // namespace et::model
