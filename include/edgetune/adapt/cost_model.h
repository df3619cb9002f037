// What an adapter plan costs per trained token: FLOPs of the forward and the backward and the
// activation memory the backward keeps, from the model's shapes alone. GradCut's `flops` cost
// model and the plan's totals both come from here.
//
// Per token, with h = hidden, I = intermediate, q = heads * head_dim, kv = kv_heads * head_dim,
// T' = (seq_len + 1) / 2 keys seen on average under the causal mask (in a sliding-window layer
// with window w < seq_len: (w (w + 1) / 2 + (seq_len - w) w) / seq_len), V = vocabulary, f = the
// fraction of tokens that are loss targets, and n(x) = 4x forward / 8x backward for an RMSNorm
// over x features:
//   projection P (in x out):  forward 2*in*out, backward dX 2*in*out (W is frozen: no dW)
//   attention:                forward 4*T'*q (QK^T and PV), backward twice that; RoPE 3*(q+kv) each way
//   gated MLP activation:     forward 6I, backward 10I
//   head:                     final norm, then on target rows forward 2Vh (logits), backward 4Vh
//                             (logits recomputed by the chunked cross-entropy, then dX)
//   adapter, rank r:          forward 2r(in+out), backward 4r(in+out) (dA, dB, dX); a shared adapter
//                             the same (its vectors are folded into A_t and B_t once per forward,
//                             a cost per forward and not per token)
// Activations kept for backward (elements per token): a layer keeps h (input-norm input),
// 4q (q, k and v repeated to the query heads, attention output), h (post-attention-norm input)
// and 3I (gate, up, act(gate)); Gemma's extra norms keep h each. An adapter keeps its input and
// z = x A^T (in + r), a shared one as well. The head keeps
// h (final-norm input) plus f*h (the rows the loss reads).
//
// The backward a matrix forces: gradients must flow from the loss down to the matrix, so every
// layer above it runs its whole backward (dX through all projections, attention, norms), and its
// own layer runs the part after the matrix in the data flow (q/k/v: attention, o and the MLP;
// o: the MLP and its norm; gate/up: the activation and down; down: nothing but Gemma's post-MLP
// norm). The forced activations follow the same region. A plan's backward is the forced region of
// its lowest matrix (regions nest) plus the backward of every adapter; below it nothing runs.
//
// Within one module type every matrix has the same shape, so the adapter terms are equal and
// GradCut's `flops` cost (gradcut_costs) orders the matrices of a type by the backward and memory
// they force below the layer that the keep counts keep adapted anyway, weighted by what those
// layers really cost (Gemma 3's sliding-window layers are cheaper to backpropagate than its
// full-attention ones).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edgetune/adapt/plan.h"
#include "edgetune/model/config.h"

namespace et {

struct CostShape {
  int64_t hidden = 0, intermediate = 0, q_out = 0, kv_out = 0, num_layers = 0, vocab = 0;
  int64_t seq_len = 0;             // tokens per row (attention cost grows with it)
  int64_t bytes_per_element = 4;   // activations: 4 (float32) or 2 (bfloat16)
  double target_fraction = 1.0;    // share of tokens that are loss targets
  bool qk_norm = false, gemma_norms = false;
  std::vector<int64_t> layer_window;  // per layer: sliding-window size, 0 (or absent) for full attention
};

CostShape cost_shape(const model::ModelConfig& config, int64_t seq_len, int64_t bytes_per_element,
                     double target_fraction);

// Per-token cost of one matrix's adapter of `kind` (dedicated or shared) at `rank`, and of the
// backbone backward it forces. FLOPs and bytes.
struct MatrixCost {
  double adapter_forward_flops = 0, adapter_backward_flops = 0, adapter_bytes = 0;
  double forced_flops = 0, forced_bytes = 0;
};
MatrixCost matrix_cost(const CostShape& shape, const PlanEntry& entry, AdapterKind kind, int rank);

// Per-token totals of a plan: the forward (whole backbone, head on target rows, every adapter),
// the backward (forced region of the lowest adapted matrix plus every adapter) and the activation
// memory the backward keeps. No adapter at all: no backward and no kept activations. Warm-up
// adapters (train_steps > 0) are left out: this is the cost of a step after they have frozen.
struct PlanCost {
  double forward_flops = 0, backward_flops = 0, activation_bytes = 0;
  // The forward once the cut-layer cache is filled (train/cut_cache.h): no layer below the cut runs.
  double forward_flops_cut_cache = 0;
};
PlanCost plan_cost(const Plan& plan, const CostShape& shape);

// GradCut costs C_m for the entries of a calibration plan (an entry without an adapter is costed
// as its type's shared adapter):
//   depth: C_m = L - layer(m) (the paper)
//   flops: C_m = (adapter forward + backward FLOPs + [forced_flops - sunk_flops]+) / F
//              + (adapter_bytes + [forced_bytes - sunk_bytes]+) / M
// F and M are the forward+backward FLOPs and activation bytes per token of the same plan with every
// matrix adapted, so C_m is a fraction of the all-matrix run's cost. The sunk part is what a
// down_proj at `floor_layer` forces: the keep counts make some matrix survive at or below that
// layer (gradcut_floor_layer), so the backward above it runs whatever else is pruned, and pruning
// a matrix saves only the backward it forces below it. ([x]+ = max(x, 0).) The paper's depth cost
// charges a layer for backward that no pruning can save, which spreads the pruning over the lower
// half of the model and leaves the cut near layer 0; this one concentrates it below the floor.
std::vector<double> gradcut_costs(const Plan& calibration_plan, const CostShape& shape, const std::string& model,
                                  int floor_layer);

// The plan's totals for plan.json: counts, trainable parameters, cut layer and per-token
// FLOPs / activation bytes next to those of all-matrix LoRA (every target matrix dedicated at
// baseline_rank), with the savings in percent and the formulas in words; with warm-up adapters, a
// "warmup" block (their count, steps and parameters; the step costs are those after the warm-up).
nlohmann::json plan_totals(const Plan& plan, const CostShape& shape, int baseline_rank, double baseline_alpha);

}  // namespace et
