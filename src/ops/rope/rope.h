// Rotary position embedding of tokens laid out [N, H, D] (N tokens, H heads, D = head_dim even),
// each token with its own position (packed sequences restart at 0).
//
//   half = D/2, for i < half:  a = float(pos_n) * inv_freq_i   (float32, as transformers),
//   c = cos a, s = sin a
//   y_i        = x_i c - x_{i+half} s
//   y_{i+half} = x_{i+half} c + x_i s
// The rotation is orthogonal, so the backward is the rotation by -a:
//   dx_i        = dy_i c + dy_{i+half} s
//   dx_{i+half} = dy_{i+half} c - dy_i s
// Fast paths compute c, s and the rotation in float32 and round once to x's dtype; the reference is
// transformers' formula in torch ops (cos/sin tables cast to x's dtype, x*cos + rotate_half(x)*sin),
// so in bfloat16 they differ by rounding only.
#pragma once
#include <torch/types.h>

namespace et::ops {

// x [N, H, D] (float32/bfloat16/float16), positions [N] int64, inv_freq [D/2] float32. Differentiable in x.
torch::Tensor rope(const torch::Tensor& x, const torch::Tensor& positions, const torch::Tensor& inv_freq);
torch::Tensor rope_ref(const torch::Tensor& x, const torch::Tensor& positions, const torch::Tensor& inv_freq);

// The fused q/k/v projection's output y [N, (hq + 2 hkv) d] (q, k, v side by side in each row) to
// rotated q [N, hq, d], rotated k [N, hkv, d] and v [N, hkv, d], each contiguous. The backward
// writes the gradient of y whole: the inverse rotation of dq and dk into their columns and dv into
// its own, so the projection's backward reads one contiguous tensor (no slice gradients to sum).
std::vector<torch::Tensor> rope_qkv(const torch::Tensor& y, int64_t hq, int64_t hkv, const torch::Tensor& positions,
                                    const torch::Tensor& inv_freq);
// Reference: slices of y through rope_ref (and v as is).
std::vector<torch::Tensor> rope_qkv_ref(const torch::Tensor& y, int64_t hq, int64_t hkv,
                                        const torch::Tensor& positions, const torch::Tensor& inv_freq);

namespace detail {
// y <- rotation of x (both [N, heads, d] with contiguous heads, any token stride).
void rope_rotate_cuda_into(const torch::Tensor& x, torch::Tensor& y, const torch::Tensor& positions,
                           const torch::Tensor& inv_freq, bool inverse);
// Out-of-place rotation of a contiguous x by +a (forward) or -a (backward), fast paths.
torch::Tensor rope_rotate_cpu(const torch::Tensor& x, const torch::Tensor& positions, const torch::Tensor& inv_freq,
                              bool inverse);
torch::Tensor rope_rotate_cuda(const torch::Tensor& x, const torch::Tensor& positions, const torch::Tensor& inv_freq,
                               bool inverse);
}  // namespace detail

}  // namespace et::ops
