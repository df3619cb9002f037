// The CPU fast path of the fused LoRA linear group (lora_linear.h): float32 CPU inputs and a frozen
// weight that lists its members (FrozenWeight::cpu_members), every product on ops/nf4_matmul's
// kernel with the low-rank terms inside the frozen weight's tile loops.
#pragma once
#include <torch/types.h>

#include <vector>

#include "ops/lora_linear/lora_linear.h"

namespace et::ops::detail {

// True when the CPU path runs x through w.
bool lora_linear_cpu_usable(const torch::Tensor& x, const FrozenWeight& w);

// As lora_linear (arguments checked there): As, Bs hold the adapted members' factors in member
// order, scales their scales (the adapter adds s x A^T B^T), ranks[j] the rank of member j (0: none).
torch::Tensor lora_linear_cpu(const torch::Tensor& x, std::shared_ptr<const FrozenWeight> w,
                              const std::vector<int64_t>& outs, const torch::autograd::variable_list& As,
                              const torch::autograd::variable_list& Bs, const std::vector<int64_t>& ranks,
                              const std::vector<double>& scales, double dropout, bool output_unused);

}  // namespace et::ops::detail
