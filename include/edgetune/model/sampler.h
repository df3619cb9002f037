// Choosing the next token from logits: greedy (temperature 0) or sampling with temperature,
// top-k and top-p, applied in that order as transformers' generate() does:
//   z = logits / T;  keep z_i >= k-th largest z (ties kept);  p = softmax(z);
//   top-p: sort p ascending, drop tokens whose cumulative sum is <= 1 - top_p (the most likely
//   token always stays);  renormalize and draw.
// The random source is std::mt19937_64, whose output sequence the C++ standard fixes, and the
// draw uses its top 53 bits, so a seed gives the same tokens on every platform and device.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <random>
#include <vector>

namespace et::model {

struct SamplingOptions {
  double temperature = 0.0;  // <= 0: greedy
  double top_p = 1.0;        // (0, 1]
  int64_t top_k = 0;         // 0: off
  uint64_t seed = 0;
};

// Index of the largest value (the first one on ties).
int64_t argmax_first(const std::vector<float>& logits);

// The distribution sampling draws from: probabilities over the vocabulary, zero where top-k or
// top-p removed a token. Needs temperature > 0.
std::vector<double> sampling_distribution(const std::vector<float>& logits, const SamplingOptions& o);

class Sampler {
 public:
  // Throws on temperature < 0, top_p outside (0, 1] or top_k < 0.
  explicit Sampler(const SamplingOptions& o);
  // logits [vocab] of any dtype and device.
  int64_t next(const torch::Tensor& logits);
  int64_t next(const std::vector<float>& logits);

 private:
  SamplingOptions o_;
  std::mt19937_64 rng_;
};

}  // namespace et::model
