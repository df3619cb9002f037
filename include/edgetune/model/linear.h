// The one place a weight matrix meets an activation: y = x W^T (+ b), then the adapter hook's
// y + adapter output.
//
// Every projection of the model (q, k, v, o, gate, up, down) is a Linear and goes through
// linear_forward(), so a quantized weight or an adapter changes this file and nothing else in
// the forward pass. `adapter` is the hook for layers above the model (LoRA): when set, it gets
// the input x and the base output y and returns y plus its own output (so a LoRA can fold the
// addition into its second GEMM).
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "edgetune/quant/nf4.h"
#include "ops/lora_linear/lora_linear.h"

namespace et::model {

enum class LinearKind { q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj };
constexpr int kNumLinearKinds = 7;

// "q_proj", "k_proj", ..., "down_proj" (the Hugging Face module names).
const char* linear_kind_name(LinearKind k);
// "self_attn" for q/k/v/o, "mlp" for gate/up/down.
const char* linear_kind_parent(LinearKind k);

struct Linear {
  std::string name;  // HF module path, e.g. "model.layers.3.self_attn.q_proj" (+ ".weight"/".bias")
  int layer = -1;
  LinearKind kind = LinearKind::q_proj;
  int64_t in_features = 0, out_features = 0;
  torch::Tensor weight;  // [out_features, in_features], in the model's compute dtype and device
  // A frozen 4-bit weight instead of `weight` (QLoRA): dequantized just in time, never stored.
  std::shared_ptr<quant::Nf4Weight> nf4;
  torch::Tensor bias;    // [out_features] or undefined
  // optional: (x, y) -> y + adapter output
  std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& y)> adapter;
  // The same adapter as factors (A [r, in], B [out, r] with the scale folded in, differentiable,
  // and its input dropout) for the fused group path (linear_group_forward); set with `adapter`.
  std::function<ops::LoraFactors()> lora;

  std::string weight_name() const { return name + ".weight"; }
  std::string bias_name() const { return name + ".bias"; }
};

// x [..., in_features] -> [..., out_features] in x's dtype.
torch::Tensor linear_forward(const Linear& lin, const torch::Tensor& x);

// Linears that read the same input, run as one (ops/lora_linear): their outputs side by side,
// [..., sum of out_features]. `fused_weight`, when defined, is the members' dense weights stacked
// ([sum out, in], built by fuse_projection_weights); the members' weights are its rows. Usable
// when linear_group_fusable holds. output: ops::OutputValue::unused leaves the values uncomputed
// for a caller that only backpropagates through them (ops/lora_linear).
torch::Tensor linear_group_forward(const std::vector<const Linear*>& group, const torch::Tensor& x,
                                   const torch::Tensor& fused_weight = {},
                                   ops::OutputValue output = ops::OutputValue::computed);
// The fast kernel path, one input size, frozen weights, and every adapter available as factors.
bool linear_group_fusable(const std::vector<const Linear*>& group);

}  // namespace et::model
