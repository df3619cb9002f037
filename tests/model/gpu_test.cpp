// CUDA forward against the CPU forward (fp32 within 1e-4; bf16 against fp32 within the bf16
// bound below), and greedy generation on the GPU reproducing stories260K's reference ids.
// Skipped where libtorch sees no CUDA device.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <nlohmann/json.hpp>

#include "edgetune/model/forward.h"
#include "edgetune/model/generate.h"
#include "model_test_util.h"

using namespace et::model;
using namespace et::test;

#define ET_REQUIRE_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible to libtorch; skipping"

namespace {

LoadOptions on_cuda(torch::ScalarType dt) {
  LoadOptions o;
  o.device = torch::Device(torch::kCUDA);
  o.dtype = dt;
  return o;
}

void compare_devices(const std::string& dir, const torch::Tensor& ids, const std::string& label) {
  Model cpu = load_model(dir), gpu = load_model(dir, on_cuda(torch::kFloat32)),
        gpu_bf16 = load_model(dir, on_cuda(torch::kBFloat16));
  torch::NoGradGuard ng;
  torch::Tensor ref = forward(cpu, ids);
  for (auto impl : {AttentionImpl::automatic, AttentionImpl::explicit_softmax}) {
    ForwardInputs in;
    in.attention = impl;
    const double err = max_abs_diff(forward(gpu, ids, in), ref);
    std::printf("[ cuda   ] %-10s fp32 %s: max abs err vs CPU %.3g\n", label.c_str(),
                impl == AttentionImpl::automatic ? "sdpa    " : "explicit", err);
    EXPECT_LT(err, 1e-4);
  }
  const double err16 = max_abs_diff(forward(gpu_bf16, ids), ref);
  std::printf("[ cuda   ] %-10s bf16: max abs err vs CPU fp32 %.3g (max |logit| %.3g)\n", label.c_str(), err16,
              ref.abs().max().item<double>());
  // bf16 weights and activations: 4% of max |logit|, as in WeightsDtype.Bf16ComputeOnCpu.
  EXPECT_LT(err16, 0.04 * ref.abs().max().item<double>());
}

}  // namespace

TEST(Cuda, GoldensMatchCpu) {
  ET_REQUIRE_CUDA();
  for (const auto& fam : golden_families()) {
    SCOPED_TRACE(fam);
    compare_devices(golden_dir(fam), read_golden(fam, "input_ids"), fam);
  }
}

TEST(Cuda, Stories260KMatchesCpuAndReference) {
  ET_REQUIRE_CUDA();
  ET_REQUIRE_SHARED(dir, "models/stories260K");
  auto ref = nlohmann::json::parse(et::read_text_file(et::path_join(dir, "reference_outputs.json")));
  auto greedy = ref["greedy_ids_from_bos"].get<std::vector<int64_t>>();
  std::vector<int64_t> ids = {1};
  ids.insert(ids.end(), greedy.begin(), greedy.end());
  compare_devices(dir, torch::tensor(ids).view({1, -1}), "stories");
  Model gpu = load_model(dir, on_cuda(torch::kFloat32));
  GenerateOptions o;
  o.max_new_tokens = 64;
  EXPECT_EQ(generate(gpu, {1}, o), greedy);
}
