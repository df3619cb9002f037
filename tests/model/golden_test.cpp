// Forward pass against transformers: for each golden family the fp32 logits of edgetune match
// transformers' eager fp32 logits within 1e-4 (max abs) and the next-token loss matches.
// Also: both attention implementations agree, the split forward (layer ranges, hidden states,
// head) equals the whole, the linear enumeration matches the files, and the adapter hook adds.
#include <gtest/gtest.h>

#include "edgetune/model/forward.h"
#include "edgetune/model/model.h"
#include "model_test_util.h"

using namespace et::model;
using namespace et::test;

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, LogitsAndLossMatchTransformers) {
  const std::string fam = GetParam();
  Model m = load_model(golden_dir(fam));
  torch::Tensor ids = read_golden(fam, "input_ids");
  torch::Tensor ref = read_golden(fam, "logits");
  const float ref_loss = read_golden(fam, "loss")[0].item<float>();
  torch::NoGradGuard ng;
  torch::Tensor logits = forward(m, ids);
  ASSERT_EQ(logits.sizes(), ref.sizes());
  const double err = max_abs_diff(logits, ref);
  const double loss = next_token_loss(logits, ids).item<double>();
  std::printf("[ golden ] %-7s logits max abs err %.3g (max |logit| %.3g), loss %.6f vs %.6f\n", fam.c_str(), err,
              ref.abs().max().item<double>(), loss, ref_loss);
  RecordProperty("max_abs_err", std::to_string(err));
  EXPECT_LT(err, 1e-4);
  EXPECT_NEAR(loss, ref_loss, 1e-5);
}

TEST_P(Golden, SdpaAndExplicitAttentionAgree) {
  if (!sdpa_available()) GTEST_SKIP() << "this libtorch has no scaled_dot_product_attention (needs >= 2.1)";
  const std::string fam = GetParam();
  Model m = load_model(golden_dir(fam));
  torch::Tensor ids = read_golden(fam, "input_ids");
  torch::NoGradGuard ng;
  ForwardInputs a, b;
  a.attention = AttentionImpl::sdpa;
  b.attention = AttentionImpl::explicit_softmax;
  EXPECT_LT(max_abs_diff(forward(m, ids, a), forward(m, ids, b)), 1e-5);
}

TEST_P(Golden, SplitForwardEqualsWhole) {
  const std::string fam = GetParam();
  Model m = load_model(golden_dir(fam));
  torch::Tensor ids = read_golden(fam, "input_ids");
  torch::Tensor whole;
  {
    torch::NoGradGuard ng;
    whole = forward(m, ids);
  }
  const int L = static_cast<int>(m.layers.size());
  for (int cut = 0; cut <= L; ++cut) {
    torch::Tensor x = embed(m, ids);
    {
      torch::NoGradGuard ng;  // below the cut: no autograd, as a trainer would run it
      x = forward_layers(m, x, 0, cut);
    }
    x = x.detach().requires_grad_(true);
    torch::Tensor h = final_norm(m, forward_layers(m, x, cut, L));
    torch::Tensor logits = lm_head_logits(m, h);
    EXPECT_TRUE(logits.requires_grad()) << "cut " << cut;
    EXPECT_LT(max_abs_diff(logits, whole), 1e-6) << "cut " << cut;
  }
}

TEST_P(Golden, LinearLayersMatchTheFiles) {
  const std::string fam = GetParam();
  Model m = load_model(golden_dir(fam));
  et::SafetensorsSet files(golden_dir(fam));
  auto lins = linear_layers(m);
  ASSERT_EQ(lins.size(), m.layers.size() * kNumLinearKinds);
  int bias_count = 0;
  for (size_t i = 0; i < lins.size(); ++i) {
    const Linear& lin = *lins[i];
    EXPECT_EQ(lin.layer, static_cast<int>(i / kNumLinearKinds));
    EXPECT_EQ(static_cast<int>(lin.kind), static_cast<int>(i % kNumLinearKinds));
    const std::string expect = "model.layers." + std::to_string(lin.layer) + "." + linear_kind_parent(lin.kind) +
                               "." + linear_kind_name(lin.kind) + ".weight";
    EXPECT_EQ(lin.weight_name(), expect);
    const et::TensorInfo& info = files.get(lin.weight_name());
    EXPECT_EQ(info.shape, (std::vector<int64_t>{lin.out_features, lin.in_features}));
    EXPECT_EQ(lin.weight.sizes().vec(), info.shape);
    EXPECT_EQ(lin.bias.defined(), files.has(lin.bias_name())) << lin.name;
    bias_count += lin.bias.defined();
    auto w = files.read_f32(lin.weight_name());
    EXPECT_TRUE(torch::equal(lin.weight, torch::from_blob(w.data(), {lin.out_features, lin.in_features})));
  }
  EXPECT_EQ(bias_count, fam == "qwen2" ? static_cast<int>(3 * m.layers.size()) : 0);
  // Parameter count = every stored tensor except a duplicate tied head.
  int64_t stored = 0;
  for (const auto& n : files.names())
    if (!(m.tied_head && n == "lm_head.weight")) stored += files.get(n).numel();
  EXPECT_EQ(parameter_count(m), stored);
}

TEST_P(Golden, AdapterHookAddsToTheProjection) {
  const std::string fam = GetParam();
  Model m = load_model(golden_dir(fam));
  torch::Tensor ids = read_golden(fam, "input_ids");
  torch::NoGradGuard ng;
  torch::Tensor base = forward(m, ids);
  // An adapter equal to the projection itself must equal doubling the weight (bias unchanged).
  Linear& up = m.layers[1].gate_proj;  // (Gemma normalizes the MLP output: doubling up_proj would cancel)
  torch::Tensor w = up.weight;
  up.adapter = [w](const torch::Tensor& x, const torch::Tensor& y) { return y + at::linear(x, w); };
  torch::Tensor with_adapter = forward(m, ids);
  up.adapter = nullptr;
  up.weight = w * 2;
  torch::Tensor doubled = forward(m, ids);
  EXPECT_GT(max_abs_diff(with_adapter, base), 1e-3);
  EXPECT_LT(max_abs_diff(with_adapter, doubled), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Families, Golden, ::testing::ValuesIn(golden_families()),
                         [](const auto& info) { return info.param; });
