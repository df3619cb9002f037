// Scaled dot-product attention with grouped-query heads, and the masks that decide which keys
// each query may see.
//
//   out = softmax(cap(q k^T * scale) + mask) v,  cap(s) = c tanh(s / c) when softcapping is on.
//
// Two implementations that must agree to fp32 rounding: libtorch's fused
// at::scaled_dot_product_attention (flash / memory-efficient kernels; libtorch >= 2.1) and an
// explicit matmul-softmax-matmul (the only one on libtorch 1.x, and the one used with
// softcapping). The softmax is taken in float32 whatever the compute dtype, as transformers does.
#pragma once
#include <torch/types.h>

#include <cstdint>

namespace et::model {

enum class AttentionImpl { automatic, sdpa, explicit_softmax };

// True when this build's libtorch has at::scaled_dot_product_attention with a scale argument.
bool sdpa_available();

// Which keys each query may attend to. `mask` is bool [B or 1, 1, T, S] (true = attend), or
// undefined: then `causal` says whether the plain lower-triangular mask applies (T == S) or
// nothing is masked at all (one query at the end of the cache).
struct AttentionMask {
  torch::Tensor mask;
  bool causal = false;
};

// Mask for queries at cache indices [q_offset, q_offset + q_len) over keys [0, k_len):
// key j is visible to query i when j <= i, and i - j < window (window > 0: sliding layers),
// and both carry the same segment id (segment_ids [B, q_len], only without a cache, where
// k_len == q_len; undefined = one sequence per row).
AttentionMask make_attention_mask(int64_t q_offset, int64_t q_len, int64_t k_len, int64_t window,
                                  const torch::Tensor& segment_ids, torch::Device device);

// q [B, Hq, T, D]; k, v [B, Hkv, S, D] with Hq a multiple of Hkv (query head h uses key/value
// head h / (Hq / Hkv)). Returns [B, Hq, T, D] in q's dtype.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const AttentionMask& mask, double scale, double softcap = 0.0,
                        AttentionImpl impl = AttentionImpl::automatic);

}  // namespace et::model
