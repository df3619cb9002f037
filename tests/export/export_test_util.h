// Helpers for the export tests: golden folders, a plan mixing every kind of adapter, adapters with
// random (trained-looking) values, and copies of model folders to alter.
#pragma once
#include <ATen/CPUGeneratorImpl.h>
#include <torch/types.h>
#include <torch/utils.h>
#include "mixed_plan.h"

#include <string>

#include "edgetune/adapt/adapters.h"
#include "edgetune/adapt/plan.h"
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/model/model.h"
#include "test_util.h"

namespace et::test {

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.detach().cpu().to(torch::kFloat64) - b.detach().cpu().to(torch::kFloat64)).abs().max().item<double>();
}

inline torch::Tensor sample_ids(const model::Model& m, int64_t rows, int64_t len, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randint(1, m.config.vocab_size, {rows, len}, gen, at::TensorOptions().dtype(at::kLong));
}


// Every adapter tensor set to random non-zero values, in place (a trained patch).
inline void randomize(const AdapterSet& a, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard g;
  for (const auto& kv : a.named_parameters()) kv.second.copy_(torch::randn(kv.second.sizes()) * 0.2 + 0.05);
}

// A copy of a model folder's files in a new temp dir.
inline std::string copy_folder(const std::string& src, const std::string& tag) {
  std::string dst = temp_dir(tag);
  for (const char* f : {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
                        "tokenizer.model", "tokenizer_config.json"}) {
    const std::string p = path_join(src, f);
    if (file_exists(p)) write_file_atomic(path_join(dst, f), read_text_file(p));
  }
  return dst;
}

}  // namespace et::test
