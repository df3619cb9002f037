// A group of linears that read one input (q, k, v; gate, up; or a single o or down), each a frozen
// weight with an optional LoRA adapter, computed as one op:
//
//   Y = x W^T + b + Z BD,   Z = drop(x) A^T   (drop: inverted dropout while training, else identity)
//   W = [W_1; ...; W_n]  (out = sum of out_j),   A = [A_1; ...; A_n]  (R = sum of r_j rows)
//   BD [R, out] block diagonal, block j = (s_j B_j)^T   (s_j: the member's scale)
//
// Backward, dY [M, out]:
//   dZ = dY BD^T                          [M, R]     one GEMM
//   dx = dY W + dZ A                      [M, in]    one GEMM and one accumulating GEMM (no extra add)
//   dA = dZ^T drop(x)                     [R, in]    one GEMM for the whole group
//   dBD = Z^T dY,  d(s_j B_j) = (block j of dBD)^T   one GEMM (the off-diagonal blocks are dropped)
// Saved: x and Z (M x R), nothing of size M x out. The frozen weight is produced by callbacks, so a
// 4-bit one is dequantized just in time in the forward and again in the backward (never kept), and
// a group whose weights are adjacent rows of one buffer runs a single GEMM with N = out. On the GPU
// one kernel lays out A and the scaled BD from the members' factors, and one takes dA and dBD apart
// into the members' gradients (lora_pack_cuda.h), instead of a cast, copy or scale per member.
// Against one linear at a time this saves, per group, the n - 1 extra reads of x, the n - 1 sums of
// input gradients and every LoRA input-gradient add, and most of the small launches.
//
// CPU fast path (float32, when the frozen weight lists its members for ops/nf4_matmul): the same
// sums member by member on the CPU kernel that decodes NF4 inside its GEMM, each low-rank product
// riding in the tile loop of the frozen one (lora_linear_cpu.cpp):
//   Z = drop(x) A^T                         one product, N = R
//   Y_j = x W_j^T + b_j + Z_j (s_j B_j)^T   per member, one tile loop (K = in, then K = r_j)
//   dZ_j = dY_j (s_j B_j)                   per member (no off-diagonal blocks)
//   dx = sum_j dY_j W_j + dZ A              one output, one tile loop per member (+ K = R once)
//   dA = dZ^T drop(x),  d(s_j B_j) = dY_j^T Z_j
//
// Output value unused (OutputValue::unused, gradient checkpointing's recompute of a layer's last
// projection, whose output only sums into the residual): Y is left uninitialized and only Z is
// computed; the backward reads x, Z and the factors, never Y, so it is unchanged. Saves the frozen
// GEMM (and an NF4 weight's dequantization) of the forward.
//
// The reference is the same sum written per linear in plain autograd ops.
#pragma once
#include <torch/types.h>

#include <functional>
#include <vector>

#include "ops/nf4_matmul/nf4_matmul.h"

namespace et::ops {

// The frozen part of a group: y = x W^T (+ bias) and dx = dy W, both on 2-D [M, .] tensors.
struct FrozenWeight {
  int64_t in = 0, out = 0;
  int matrices = 1;  // frozen matrices in the group (each input-gradient product counts as one backward)
  std::function<torch::Tensor(const torch::Tensor& x)> forward;
  std::function<torch::Tensor(const torch::Tensor& dy)> input_grad;
  // Optional, float32 CPU groups: the members' frozen weights (in member order, rows = out_j) and
  // biases (undefined: none) for the CPU fast path. Empty: the callbacks above serve every path.
  std::vector<MatmulWeight> cpu_members;
  std::vector<torch::Tensor> cpu_bias;
};

// One member's adapter: A [r, in], B [out_j, r] and the scale s (the adapter adds s x A^T B^T);
// both undefined: none.
// Differentiable (gradients flow back to whatever made them: dedicated factors, shared ones).
// dropout: the adapter input's dropout rate while autograd is on (training); the group draws one
// mask for all its members (they read the same input), at the largest member's rate.
struct LoraFactors {
  torch::Tensor A, B;
  double dropout = 0;
  double scale = 1.0;  // the adapter's B is scale * B (folded in by the op, so B can be the parameter itself)
  bool defined() const { return A.defined(); }
};

// Whether a caller reads the op's output values or only backpropagates through them.
enum class OutputValue { computed, unused };

// x [..., in] -> Y [..., out]: the members' outputs side by side (member j in columns
// [sum_{i<j} out_i, + out_j)). lora has one entry per member (outs.size()). With
// OutputValue::unused, Y's values are uninitialized (see above); its gradient is the same.
torch::Tensor lora_linear(const torch::Tensor& x, std::shared_ptr<const FrozenWeight> w,
                          const std::vector<int64_t>& outs, const std::vector<LoraFactors>& lora,
                          OutputValue output = OutputValue::computed);

// The reference: every member on its own in autograd ops (y_j = x W_j^T + b_j + (x A_j^T) B_j^T),
// concatenated.
torch::Tensor lora_linear_ref(const torch::Tensor& x, const FrozenWeight& w, const std::vector<int64_t>& outs,
                              const std::vector<LoraFactors>& lora);

}  // namespace et::ops
