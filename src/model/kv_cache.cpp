// KV cache storage (see kv_cache.h).
#include "edgetune/model/kv_cache.h"

#include <algorithm>

#include "edgetune/core/error.h"
#include "edgetune/model/model.h"

namespace et::model {

KVCache make_kv_cache(const Model& model, int64_t capacity) {
  KVCache c;
  const size_t n = static_cast<size_t>(model.config.num_layers);
  c.k.resize(n);
  c.v.resize(n);
  c.length.assign(n, 0);
  c.initial_capacity = std::max<int64_t>(capacity, 1);
  return c;
}

int64_t kv_cache_length(const KVCache& cache, int layer) {
  ET_CHECK(layer >= 0 && static_cast<size_t>(layer) < cache.length.size(), "kv_cache", "layer ", layer,
           " is outside the cache's ", cache.length.size(), " layers");
  return cache.length[static_cast<size_t>(layer)];
}

std::pair<torch::Tensor, torch::Tensor> kv_cache_append(KVCache& cache, int layer, const torch::Tensor& k,
                                                        const torch::Tensor& v) {
  const int64_t len = kv_cache_length(cache, layer);
  const size_t i = static_cast<size_t>(layer);
  const int64_t t = k.size(2), need = len + t;
  torch::Tensor& K = cache.k[i];
  torch::Tensor& V = cache.v[i];
  if (K.defined())
    ET_CHECK(K.size(0) == k.size(0) && K.size(1) == k.size(1) && K.size(3) == k.size(3), "kv_cache",
             "layer ", layer, ": new keys ", k.sizes(), " do not match the cached ", K.sizes());
  if (!K.defined() || K.size(2) < need) {
    int64_t cap = K.defined() ? K.size(2) : cache.initial_capacity;
    while (cap < need) cap *= 2;
    auto shape = k.sizes().vec();
    shape[2] = cap;
    torch::Tensor nk = torch::empty(shape, k.options()), nv = torch::empty(shape, v.options());
    if (len > 0) {
      nk.narrow(2, 0, len).copy_(K.narrow(2, 0, len));
      nv.narrow(2, 0, len).copy_(V.narrow(2, 0, len));
    }
    K = nk;
    V = nv;
  }
  K.narrow(2, len, t).copy_(k);
  V.narrow(2, len, t).copy_(v);
  cache.length[i] = need;
  return {K.narrow(2, 0, need), V.narrow(2, 0, need)};
}

void kv_cache_clear(KVCache& cache) { std::fill(cache.length.begin(), cache.length.end(), 0); }

}  // namespace et::model
