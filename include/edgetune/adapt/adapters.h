// The trainable adapter tensors of a plan, and their attachment to a model's linear layers.
//
//   dedicated:  dW = s * B A                                  A: r x in, B: out x r
//   shared:     dW_m = s * diag(b_m) B_t diag(a_m) A_t         A_t, B_t per module type; a_m (r), b_m (out) per matrix
// with s = alpha/r (alpha/sqrt(r) with rslora). The frozen weight is never touched: the layer
// computes y = x W^T + (drop(x) A^T) (s B)^T, the addition fused into the second GEMM; a shared
// adapter the same with A = diag(a_m) A_t and B = diag(b_m) B_t, folded once per forward.
// Initialization as PEFT: A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming-uniform with a = sqrt(5)),
// B = 0, so a fresh adapter leaves the model's output exactly unchanged; shared vectors start at 1.
//
// Token rows (plan.token_ids): the embedding rows of those tokens are replaced by trained values
// (PEFT's trainable tokens; a tied head reads the same rows). They start as copies of the base's
// rows (init_token_rows), so they too leave the model unchanged at first. They are for tokens
// the base never learned: a small model's rows for markup it never saw (`<`, `_`, `>` in a story
// model) are the same vector, so no adapter on the layers can make it write one and not another.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "edgetune/adapt/plan.h"

namespace et::model {
struct Model;
}

namespace et {

struct LoraPair {
  torch::Tensor A, B;  // float32 leaves
  double scale = 1.0;
};

struct SharedVectors {
  torch::Tensor a, b;  // [r], [out]
};

struct AdapterSet {
  Plan plan;
  std::map<std::string, LoraPair> dedicated;     // by module path
  std::map<std::string, LoraPair> shared;        // by module type
  std::map<std::string, SharedVectors> vectors;  // by module path (shared entries)
  torch::Tensor token_rows;                      // [plan.token_ids.size(), plan.token_width]; undefined: none

  // Every trainable tensor with a stable name:
  //   "<module>.lora_A", "<module>.lora_B", "shared.<type>.lora_A", "shared.<type>.lora_B",
  //   "<module>.shared_a", "<module>.shared_b", "token_rows". Order is deterministic.
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() const;
  int64_t parameter_count() const;
  // The exact per-module (A, B, scale) of an entry: a dedicated pair as is; a shared one folded as
  // A_m = diag(a_m) A_t, B_m = diag(b_m) B_t (so B_m A_m = diag(b) B_t diag(a) A_t exactly).
  LoraPair effective(const std::string& module) const;
  // dW (out x in, float32) of an entry.
  torch::Tensor delta_weight(const std::string& module) const;
};

// Fresh adapters for `plan` (deterministic in `seed`), float32 on `device`; token rows zero
// until init_token_rows.
AdapterSet create_adapters(const Plan& plan, uint64_t seed, torch::Device device);
// Token rows := the model's embedding rows of plan.token_ids (the start of training).
void init_token_rows(AdapterSet& adapters, const model::Model& model);
// Installs the adapters on the model's linear layers (replacing any installed before);
// dropout applies to the adapter input while torch grad mode is on. Token rows need a model whose
// head is tied to its embedding (an error names the model otherwise).
void attach_adapters(model::Model& model, const AdapterSet& adapters);
void detach_adapters(model::Model& model);

}  // namespace et
