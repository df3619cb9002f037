// The memory planner: the peak memory of a training run, estimated before it starts, and the
// settings that keep it under train.memory_budget (MiB).
//
// The estimate (memory_estimate.cpp) adds up what is resident at the step's peak:
//   runtime       the process itself (CPU: libtorch and its threads' buffers, measured); on a
//                 discrete GPU 0, since the budget there is the CUDA caching allocator's peak; on a
//                 unified-memory device (Jetson) the host process, the CUDA context and the
//                 allocator's reserve too, as CPU and GPU share one memory
//   weights       the frozen projections: NF4 (4 bits + double-quantized absmax) or dense
//   embeddings    the embedding matrix, an untied head, the norms
//   adapters      the trainable parameters with their gradients and AdamW's two moments (float32)
//   activations   what autograd keeps per token of a micro-batch in every layer above the cut (with
//                 gradient checkpointing: the first layer above the cut and the last whole, the
//                 others only their input, plus one recomputed layer); the explicit attention of
//                 the CPU path keeps the float32 probabilities, [heads, T] per token, the GPU's
//                 fused attention (cuDNN, flash) only its output and log-sum-exp
//   cross_entropy the final hidden states at the loss positions and their gradient
//   transient     the larger of the chunked cross-entropy's chunk of logits (forward) and one
//                 layer's backward working set with a dequantized NF4 weight group
//   cut_cache     the cut-layer cache: (dataset tokens + 1) x hidden in the compute dtype
//   workspace     cuBLAS workspaces and the step's small tensors (CUDA)
//
// The planner keeps the recipe's effective batch (batch_size x grad_accum rows per optimizer
// step) and tries every micro-batch that divides it, with gradient checkpointing off and on and the
// cut-layer cache on and off (as train.cut_cache allows), and takes the fastest by a simple step-
// time model (checkpointing recomputes the forward: +1/3 per token; every micro-batch costs a
// fixed overhead) among those whose estimate fits. When none fits it refuses, naming the smallest
// budget that would.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edgetune/model/config.h"

namespace et {

struct Recipe;
struct Plan;
struct TrainSession;

enum class MemoryDevice { cpu, cuda, cuda_unified };
const char* memory_device_name(MemoryDevice d);

// What the estimate reads: the model's shape, the device, the plan's trainable parameters and
// cut, and the data's row length.
struct MemoryShape {
  model::ModelConfig config;
  MemoryDevice device = MemoryDevice::cpu;
  int dtype_bytes = 4;           // compute dtype (float32 4, bfloat16 2)
  bool nf4 = false;              // projections in NF4
  bool full = false;             // full fine-tuning: every weight trains
  int64_t trainable = 0;         // adapter parameters that train
  int64_t layer_rank = 0;        // sum of the adapter ranks of one layer (its LoRA products)
  double dropout = 0;            // adapter input dropout
  int cut_layer = 0;             // first layer that runs with autograd
  int64_t row_tokens = 0;        // tokens per row of a micro-batch (the longest)
  double target_fraction = 1;    // loss positions per row over row_tokens (the largest row's)
  int64_t rows = 0;              // rows the training data packs into
  int64_t dataset_tokens = 0;    // tokens of the training data (the cut-layer cache)
  int threads = 1;               // CPU threads
  bool budgeted = false;         // under train.memory_budget: the cross-entropy's small chunks (loss_chunk_rows)
  std::string what;              // where the shape came from, for the log ("plan of 168 adapters", ...)
};

struct MemorySettings {
  int batch_size = 1;  // rows per micro-batch
  int grad_accum = 1;  // micro-batches per optimizer step
  bool grad_checkpoint = false;
  bool cut_cache = false;
};
std::string describe_settings(const MemorySettings& s);

// Every term in bytes.
struct MemoryEstimate {
  MemorySettings settings;
  double runtime = 0, weights = 0, embeddings = 0, adapters = 0, activations = 0, cross_entropy = 0,
         transient = 0, cut_cache = 0, workspace = 0;
  bool transient_is_backward = false;  // the transient is a layer's backward (else the logits chunk)
  double total() const;
  double total_mib() const { return total() / (1024.0 * 1024.0); }
};

MemoryEstimate estimate_memory(const MemoryShape& shape, const MemorySettings& settings);

// The terms, one a line ("  weights       185.3 MiB  NF4 projections ...").
std::string format_estimate(const MemoryShape& shape, const MemoryEstimate& e);

struct MemoryChoice {
  MemorySettings settings;
  MemoryEstimate estimate;
  std::string reason;  // what was chosen and why, one line
};

// The fastest settings whose estimate fits `budget_mib`, keeping `wanted`'s effective batch.
// `cut_cache_mode` is train.cut_cache (auto | on | off): on keeps the cache, off never uses it.
// Throws et::Error naming the smallest budget that fits when nothing does.
MemoryChoice fit_memory_budget(const MemoryShape& shape, const MemorySettings& wanted, const std::string& cut_cache_mode,
                               double budget_mib);

// Every setting the planner considers, with its estimate (for `edgetune plan --memory`).
std::vector<MemoryEstimate> memory_candidates(const MemoryShape& shape, const MemorySettings& wanted,
                                              const std::string& cut_cache_mode);

// The recipe's own settings (train.batch_size, grad_accum, grad_checkpoint; the cut cache as
// train.cut_cache would decide for `shape`).
MemorySettings recipe_memory_settings(const Recipe& recipe, const MemoryShape& shape);

// The shape of an opened session: its model, data and `plan` (nullptr: the plan the policy implies
// before planning; GradCut's calibration trains every layer, so its shape has no cut).
MemoryShape session_memory_shape(const TrainSession& session, const Plan* plan);

// The shape from a recipe without loading any weights (config.json, tokenizer and data only).
MemoryShape recipe_memory_shape(const Recipe& recipe);

// With train.memory_budget > 0: throws, naming the smallest budget that fits, when no setting
// fits the recipe's shape (config.json, tokenizer and data only: checked before any weight loads).
void check_memory_budget(const Recipe& recipe);

// With train.memory_budget > 0: fits the session's train settings (batch_size, grad_accum,
// grad_checkpoint, cut_cache) to the budget for `plan` and logs what it chose and why (with a
// plan, only when that changes the settings); throws when nothing fits. Does nothing when the
// budget is 0.
void apply_memory_budget(TrainSession& session, const Plan* plan);

// `edgetune plan --memory`: the estimate at the recipe's settings, every candidate, and the choice
// under train.memory_budget (when set), as text.
struct MemoryReport {
  MemoryShape shape;
  MemoryEstimate at_recipe;
  std::vector<MemoryEstimate> candidates;
  bool has_choice = false;
  MemoryChoice choice;
  std::string refusal;  // the error when nothing fits the budget
  double budget_mib = 0;
};
MemoryReport memory_report(const Recipe& recipe);
std::string format_memory_report(const MemoryReport& report);
// The same as JSON: {"device", "what", "row_tokens", "rows", "budget_mib", "at_recipe": {settings,
// every term in MiB, "total_mib"}, "candidates": [...], "choice": {... "reason"} or null, "refusal"}.
nlohmann::json memory_report_json(const MemoryReport& report);

}  // namespace et
