// Helpers for the export tests: golden folders, a plan mixing every kind of adapter, adapters with
// random (trained-looking) values, and copies of model folders to alter.
#pragma once
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <string>

#include "edgetune/adapt/adapters.h"
#include "edgetune/adapt/plan.h"
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/model/model.h"
#include "test_util.h"

namespace et::test {

inline std::string golden(const std::string& family) {
  return path_join(path_join(source_dir(), "tests/golden"), family);
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.detach().cpu().to(torch::kFloat64) - b.detach().cpu().to(torch::kFloat64)).abs().max().item<double>();
}

inline torch::Tensor sample_ids(const model::Model& m, int64_t rows, int64_t len, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randint(1, m.config.vocab_size, {rows, len}, gen, at::TensorOptions().dtype(at::kLong));
}

// Dedicated adapters of two ranks (k, down: rank 2 alpha 4; v above layer 0: rank 5 alpha 5),
// shared q (rank 3, alpha 6) and up (rank 6, alpha 3), and matrices without an adapter.
inline Plan mixed_plan(const model::Model& m, bool rslora = false) {
  Plan p = empty_plan(m, AdapterOptions{});
  p.policy = "gradcut";
  p.rslora = rslora;
  for (auto& e : p.entries) {
    if (e.type == "q_proj" || e.type == "up_proj") {
      e.kind = AdapterKind::shared;
      e.rank = e.type == "q_proj" ? 3 : 6;
      e.alpha = e.type == "q_proj" ? 6 : 3;
    } else if (e.type == "k_proj" || e.type == "down_proj") {
      e.kind = AdapterKind::dedicated;
      e.rank = 2;
      e.alpha = 4;
    } else if (e.type == "v_proj" && e.layer >= 1) {
      e.kind = AdapterKind::dedicated;
      e.rank = 5;
      e.alpha = 5;
    }
  }
  for (const char* t : {"q_proj", "up_proj"})
    for (const auto& e : p.entries)
      if (e.type == t) {
        p.shared.push_back({t, e.rank, e.alpha, e.in_features, e.out_features});
        break;
      }
  return p;
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
