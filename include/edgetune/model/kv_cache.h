// Key/value cache for incremental decoding: per layer, the rotated keys and the values of every
// token seen so far, so a new token attends to them without recomputing the prefix.
// Storage grows by doubling; a layer's buffers are allocated on first use with the dtype and
// device of the keys written to it.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace et::model {

struct Model;

struct KVCache {
  std::vector<torch::Tensor> k, v;  // per layer [B, Hkv, capacity, D]
  std::vector<int64_t> length;      // tokens stored per layer
  int64_t initial_capacity = 0;
};

// An empty cache for `model` with room for `capacity` tokens before it grows.
KVCache make_kv_cache(const Model& model, int64_t capacity);

// Tokens stored in `layer`.
int64_t kv_cache_length(const KVCache& cache, int layer);

// Appends k, v [B, Hkv, T, D] to `layer` and returns views of all keys and values stored there,
// [B, Hkv, length, D].
std::pair<torch::Tensor, torch::Tensor> kv_cache_append(KVCache& cache, int layer, const torch::Tensor& k,
                                                        const torch::Tensor& v);

// Forgets every token (keeps the buffers).
void kv_cache_clear(KVCache& cache);

}  // namespace et::model
