// The cut-layer cache: every training conversation's hidden state entering the cut layer,
// computed once and reused by every later step.
//
// Below the gradient cut nothing trains, and what a layer there computes for a token depends only
// on its own conversation: packed conversations never attend to each other and restart their
// positions, and no adapter (hence no dropout) sits below the cut. So the hidden states at the cut
// are a fixed function of each conversation's tokens. With the cache a training step runs no layer
// below the cut at all, forward or backward; on-device personalization goes over a small dataset
// for many epochs, so the one pass that fills the cache is paid once. Memory: (tokens + 1) x
// hidden values in the model's dtype, on the training device.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "edgetune/data/examples.h"

namespace et::model {
struct Model;
}

namespace et {

struct CutCache {
  int cut_layer = 0;
  torch::Tensor hidden;         // [tokens + 1, hidden], model dtype; the last row (zeros) stands for padding
  std::vector<int64_t> offset;  // first row of each conversation
  double seconds = 0;           // time taken to fill it
};

// Bytes the cache of `examples` takes for this model.
int64_t cut_cache_bytes(const model::Model& model, const std::vector<TokenizedExample>& examples);

// Runs embed + layers [0, cut_layer) over every example once (no autograd; packed rows of max_len
// tokens, rows_per_batch rows at a time) and keeps the result.
CutCache build_cut_cache(const model::Model& model, const std::vector<TokenizedExample>& examples, int cut_layer,
                         int rows_per_batch, int max_len);

// The cached hidden states of a batch drawn from the same examples (Batch::example indexes them):
// [rows, len, hidden], zeros at padding.
torch::Tensor cut_cache_hidden(const CutCache& cache, const Batch& batch);

}  // namespace et
