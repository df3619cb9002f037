// Helpers for the ReTune tests: tiny base releases made from the golden Hugging Face folders
// (a copy with Gaussian noise added to chosen matrices), patches with random trained-looking
// adapters, and the pooled statistics computed directly from the files as a reference.
#pragma once
#include <ATen/CPUGeneratorImpl.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <functional>
#include <string>
#include <vector>

#include "edgetune/adapt/adapters.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/safetensors.h"
#include "edgetune/export/patch.h"
#include "edgetune/model/model.h"
#include "mixed_plan.h"
#include "test_util.h"

namespace et::test {

// A copy of the model folder `src` (config, tokenizer files, model.safetensors as F32) in which
// every tensor `noisy(name)` selects gets N(0, sigma^2) noise added (seeded).
inline std::string noisy_copy(const std::string& src, const std::string& tag, double sigma,
                              const std::function<bool(const std::string&)>& noisy, uint64_t seed = 7) {
  const std::string dst = temp_dir(tag);
  for (const char* f : {"config.json", "generation_config.json", "tokenizer.json", "tokenizer.model",
                        "tokenizer_config.json"}) {
    const std::string p = path_join(src, f);
    if (file_exists(p)) write_file_atomic(path_join(dst, f), read_text_file(p));
  }
  SafetensorsFile in(path_join(src, "model.safetensors"));
  auto gen = at::detail::createCPUGenerator(seed);
  std::vector<torch::Tensor> keep;
  std::vector<TensorToWrite> out;
  for (const auto& t : in.tensors()) {
    std::vector<float> v = in.read_f32(t.name);
    torch::Tensor x = torch::from_blob(v.data(), t.shape, torch::kFloat32).to(torch::kFloat64);
    if (noisy(t.name)) x = x + at::normal(0.0, sigma, t.shape, gen, at::TensorOptions().dtype(at::kDouble));
    keep.push_back(x.to(torch::kFloat32).contiguous());
    out.push_back({t.name, DType::f32, t.shape, keep.back().data_ptr(), static_cast<size_t>(keep.back().numel()) * 4});
  }
  write_safetensors(path_join(dst, "model.safetensors"), out);
  return dst;
}

inline bool is_projection(const std::string& name) {
  return name.find("_proj.weight") != std::string::npos;
}

// Adapters of `plan` with every tensor random (B non-zero: a trained patch), written as a patch of
// `base` to `path`.
inline Patch write_random_patch(const std::string& base, const Plan& plan, const std::string& path, uint64_t seed,
                                const std::string& recipe_yaml = "") {
  AdapterSet a = create_adapters(plan, seed, torch::kCPU);
  {
    torch::manual_seed(seed);
    torch::NoGradGuard g;
    for (const auto& kv : a.named_parameters()) {
      const bool vec = kv.first.find(".shared_") != std::string::npos;
      kv.second.copy_(vec ? 1.0 + 0.3 * torch::randn(kv.second.sizes()) : 0.05 * torch::randn(kv.second.sizes()));
    }
  }
  Patch p = make_patch(a, base, recipe_yaml);
  write_patch(path, p);
  return p;
}

// dW of one patched module computed straight from the patch's tensors (not through AdapterSet):
// s B A for a dedicated adapter, s diag(b) B_t diag(a) A_t for a shared one, in float64.
inline torch::Tensor reference_delta(const Patch& p, const PlanEntry& e) {
  auto t = [&](const std::string& name) {
    for (const auto& kv : p.tensors)
      if (kv.first == name) return kv.second.to(torch::kFloat64);
    throw std::runtime_error("no tensor " + name);
  };
  if (e.kind == AdapterKind::dedicated)
    return p.plan.scale(e.rank, e.alpha) * t(e.module + ".lora_B").mm(t(e.module + ".lora_A"));
  const SharedSpec* s = p.plan.shared_of(e.type);
  const torch::Tensor Bt = t("shared." + e.type + ".lora_B"), At = t("shared." + e.type + ".lora_A");
  return p.plan.scale(s->rank, s->alpha) *
         torch::diag(t(e.module + ".shared_b")).mm(Bt).mm(torch::diag(t(e.module + ".shared_a"))).mm(At);
}

struct ReferenceStats {
  double mu_P = 0, sigma_P = 0, mu_D = 0, sigma_D = 0;
};

// The pooled statistics from every value at once (one concatenated vector, torch's mean and
// population std), reading the two bases' safetensors directly.
inline ReferenceStats reference_stats(const Patch& p, const std::string& base_old, const std::string& base_new) {
  SafetensorsSet a(base_old), b(base_new);
  std::vector<torch::Tensor> x, y;
  for (const auto& e : p.plan.entries) {
    if (e.kind == AdapterKind::none) continue;
    x.push_back(reference_delta(p, e).square().reshape({-1}));
    const std::string n = e.module + ".weight";
    std::vector<float> va = a.read_f32(n), vb = b.read_f32(n);
    torch::Tensor d = torch::from_blob(vb.data(), {static_cast<int64_t>(vb.size())}, torch::kFloat32).to(torch::kFloat64) -
                      torch::from_blob(va.data(), {static_cast<int64_t>(va.size())}, torch::kFloat32).to(torch::kFloat64);
    y.push_back(d.square());
  }
  const torch::Tensor X = torch::cat(x), Y = torch::cat(y);
  return {X.mean().item<double>(), X.std(/*unbiased=*/false).item<double>(), Y.mean().item<double>(),
          Y.std(/*unbiased=*/false).item<double>()};
}

}  // namespace et::test
