// Autoregressive generation with a KV cache: one forward over the prompt (prefill), then one
// token at a time, each attending to the cached keys and values. Stops at a stop id (not
// returned), after max_new_tokens, or when the callback says so.
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
};

// Returns the generated ids (without the prompt). `on_token` sees each id as it is produced;
// returning false stops generation after that id. The prompt must not be empty.
std::vector<int64_t> generate(const Model& model, const std::vector<int64_t>& prompt, const GenerateOptions& options,
                              const std::function<bool(int64_t)>& on_token = nullptr);

}  // namespace et::model
