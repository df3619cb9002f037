// The training forward: token-normalizable causal-LM loss of a batch, with the gradient cut.
//
// Layers below `cut_layer` run under NoGradGuard: they keep no activations and no backward runs
// through them. Layers from the cut up run with autograd (optionally recomputed in backward:
// gradient checkpointing). The loss is taken only at target positions (assistant tokens) with the
// chunked cross-entropy, so [tokens, vocab] logits never exist, and the last layer runs only at
// the positions that predict a target (keys and values at all): nothing reads its other outputs.
#pragma once
#include <torch/types.h>

#include <memory>

#include "edgetune/data/examples.h"
#include "ops/varlen_attention/varlen_attention.h"

namespace et::model {
struct Model;
}

namespace et {

// The positions the loss reads: position t where token t + 1 is a target. queries [B, Q] holds each
// row's in order, padded with 0 (Q: the most in a row); slots [N] are the read ones in the flattened
// [B * Q], row-major; labels [N] the tokens they predict.
struct LossPositions {
  torch::Tensor queries, slots, labels;
};

// A batch on its tokens only: the non-padding positions of the [B, T] rows, in order, as one row
// of N (the layers act row by row, and with variable-length attention each sequence only sees
// itself, so dropping the padding changes nothing the loss reads; it saves the padding's share of
// every product).
struct BatchTokens {
  torch::Tensor keep;                     // [N] int64: flat indices into [B * T]
  torch::Tensor ids, positions, segments;  // [1, N] int64
  torch::Tensor loss_rows;                 // [slots] int64: the row of each loss slot among the N
  std::shared_ptr<const ops::VarlenSeqs> varlen;
};

struct BatchTensors {
  torch::Tensor ids, positions, segments, target;  // [B, T]; target uint8/bool
  int64_t num_targets = 0;
  int64_t num_tokens = 0;  // non-padding tokens
  // When defined: [B, T, hidden], the hidden states entering the cut layer (train/cut_cache.h);
  // the loss then starts at the cut and runs nothing below it.
  torch::Tensor cut_hidden;
  // Worked out on the host by to_tensors, so the step needs no device sync for them: the loss
  // positions (slots undefined: computed on the device from target), the rows' sequences for
  // varlen attention, and whether every id was checked against the vocabulary
  // (max_id >= 0: the largest id).
  LossPositions loss;
  std::shared_ptr<const ops::VarlenSeqs> varlen;
  int64_t max_id = -1;
  // CPU batches with padding whose loss reads no padding position (to_tensors): the batch on its
  // tokens, which causal_lm_loss_sum runs the layers on when they take variable-length attention.
  std::shared_ptr<const BatchTokens> tokens;
};

BatchTensors to_tensors(const Batch& b, torch::Device device);

struct LossOptions {
  int cut_layer = 0;             // first layer that runs with autograd
  bool grad_checkpoint = false;  // recompute layer activations during backward
  bool embeddings_trainable = false;  // full fine-tuning: run the embedding with autograd
  int64_t loss_chunk_rows = 0;   // rows per chunk of the cross-entropy with the head (0: the op's choice)
};

// LossOptions::loss_chunk_rows for a run: the op's choice, or its small chunks under a memory
// budget or on a GPU that shares the board's memory (what the memory estimate assumes).
int64_t loss_chunk_rows(const model::Model& model, bool memory_budget);

// embed + layers [0, cut_layer) without autograd: the hidden states entering the cut layer.
torch::Tensor forward_below_cut(const model::Model& model, const BatchTensors& batch, const LossOptions& options);

// LossPositions from the batch's target tensor (on its device).
LossPositions loss_positions(const BatchTensors& batch);
// The same from a host batch.
LossPositions loss_positions(const Batch& batch, torch::Device device);

// Sum over target tokens of -log p(token | prefix), float32 scalar (divide by the token count of
// the optimizer step for a token-normalized loss).
torch::Tensor causal_lm_loss_sum(const model::Model& model, const BatchTensors& batch, const LossOptions& options);

}  // namespace et
