// Autoregressive generation with a KV cache: one forward over the prompt (prefill), then one
// token at a time, each attending to the cached keys and values. Stops at a stop id (not
// returned), after max_new_tokens, or when the callback says so.
//
// Constrained decoding hooks in before each choice: mask_logits sees the next token's logits (float32,
// CPU) and sets those of the tokens that may not come next to -infinity. The step callback gets
// each token with its log-probability under the distribution it was chosen from at temperature 1
// (the masked logits' log-softmax), from which callers build a confidence.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "edgetune/model/model.h"
#include "edgetune/model/sampler.h"

namespace et::model {

struct GenerateOptions {
  int64_t max_new_tokens = 128;
  SamplingOptions sampling;
  std::vector<int64_t> stop_ids;  // e.g. stop_token_ids(folder, config)
  // step: 0 for the first new token. At least one logit must stay finite.
  std::function<void(int64_t step, std::vector<float>& logits)> mask_logits;
};

struct TokenStep {
  int64_t id = 0;
  double logprob = 0;  // log p(id) under the masked logits at temperature 1
};

// Returns the generated ids (without the prompt). `on_token` sees each id as it is produced;
// returning false stops generation after that id. The prompt must not be empty.
std::vector<int64_t> generate(const Model& model, const std::vector<int64_t>& prompt, const GenerateOptions& options,
                              const std::function<bool(int64_t)>& on_token = nullptr);
// The same, with each token's log-probability.
std::vector<int64_t> generate_steps(const Model& model, const std::vector<int64_t>& prompt, const GenerateOptions& options,
                                    const std::function<bool(const TokenStep&)>& on_step);

}  // namespace et::model
