// GGUF LoRA export checked against llama.cpp's loader rules (llama-adapter.cpp): metadata, tensor
// names, ne shapes, and that llama.cpp's update (alpha / r) * B A equals ours, with Llama's q/k rows
// in llama.cpp's interleaved RoPE order.
#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <cmath>

#include "edgetune/adapt/adapters.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/gguf.h"
#include "edgetune/export/gguf_lora_export.h"
#include "edgetune/model/model.h"
#include "test_util.h"

namespace et {
namespace {

using test::golden;

// A plan with every kind: dedicated at two ranks/alphas, shared, none; B filled with noise.
AdapterSet mixed_adapters(const model::Model& m) {
  AdapterOptions o;
  Plan p = empty_plan(m, o);
  p.policy = "gradcut";
  for (auto& e : p.entries) {
    if (e.type == "v_proj" || e.type == "up_proj") {
      e.kind = AdapterKind::shared;
      e.rank = 8;
      e.alpha = 16;
    } else if (e.layer == 1 && e.type == "down_proj") {
      e.kind = AdapterKind::none;
    } else {
      e.kind = AdapterKind::dedicated;
      e.rank = e.layer == 0 ? 4 : 2;
      e.alpha = e.layer == 0 ? 8 : 6;
    }
  }
  for (const std::string t : {"v_proj", "up_proj"}) {
    for (const auto& e : p.entries)
      if (e.type == t) {
        p.shared.push_back({t, 8, 16, e.in_features, e.out_features});
        break;
      }
  }
  AdapterSet s = create_adapters(p, 3, torch::kCPU);
  torch::manual_seed(5);
  torch::NoGradGuard g;
  for (auto& kv : s.named_parameters()) kv.second.copy_(torch::randn(kv.second.sizes()));
  return s;
}

// HF's rotate-half RoPE on rows of one head group vs llama.cpp's interleaved pairs.
torch::Tensor rope_half(const torch::Tensor& q, int64_t d, double pos) {
  auto out = q.clone();
  for (int64_t h = 0; h < q.size(0) / d; ++h)
    for (int64_t i = 0; i < d / 2; ++i) {
      const double th = pos * std::pow(10000.0, -2.0 * i / d);
      auto a = q[h * d + i].item<double>(), b = q[h * d + i + d / 2].item<double>();
      out[h * d + i] = a * std::cos(th) - b * std::sin(th);
      out[h * d + i + d / 2] = b * std::cos(th) + a * std::sin(th);
    }
  return out;
}
torch::Tensor rope_interleaved(const torch::Tensor& q, int64_t d, double pos) {
  auto out = q.clone();
  for (int64_t h = 0; h < q.size(0) / d; ++h)
    for (int64_t i = 0; i < d / 2; ++i) {
      const double th = pos * std::pow(10000.0, -2.0 * i / d);
      auto a = q[h * d + 2 * i].item<double>(), b = q[h * d + 2 * i + 1].item<double>();
      out[h * d + 2 * i] = a * std::cos(th) - b * std::sin(th);
      out[h * d + 2 * i + 1] = b * std::cos(th) + a * std::sin(th);
    }
  return out;
}

TEST(GgufLoraExport, PermutationMapsHfRopeToInterleavedRope) {
  // llama.cpp rotates (2i, 2i+1); Hugging Face rotates (i, i + d/2). With rows permuted, rotating
  // the permuted projection must give the permuted rotation of the original.
  const int64_t heads = 3, d = 8;
  torch::manual_seed(1);
  auto W = torch::randn({heads * d, 5}, torch::kDouble);
  auto x = torch::randn({5}, torch::kDouble);
  auto P = [&](const torch::Tensor& w) { return llama_rope_permute_rows(w, heads); };
  auto hf = rope_half(torch::matmul(W, x), d, 7.0);
  auto cpp = rope_interleaved(torch::matmul(P(W), x), d, 7.0);
  auto hf_permuted = llama_rope_permute_rows(hf.unsqueeze(1), heads).squeeze(1);
  EXPECT_LT((cpp - hf_permuted).abs().max().item<double>(), 1e-12);
}

TEST(GgufLoraExport, LlamaCppReadsTheSameUpdate) {
  for (const std::string family : {"llama", "qwen2"}) {
    model::Model m = model::load_model(golden(family));
    AdapterSet s = mixed_adapters(m);
    const std::string out = path_join(test::temp_dir("gguf"), "adapter.gguf");
    export_gguf_lora(s, golden(family), out);
    GgufFile f(out);
    EXPECT_EQ(f.get_string("general.type"), "adapter");
    EXPECT_EQ(f.get_string("adapter.type"), "lora");
    EXPECT_EQ(f.get_string("general.architecture"), family);
    const double alpha = f.get_float("adapter.lora.alpha");
    size_t pairs = 0;
    for (const auto& e : s.plan.entries) {
      const std::string base = gguf_tensor_name(e.layer, e.type);
      if (e.kind == AdapterKind::none) {
        EXPECT_EQ(f.find_tensor(base + ".lora_a"), nullptr) << base;
        continue;
      }
      const auto& a = f.get_tensor(base + ".lora_a");
      const auto& b = f.get_tensor(base + ".lora_b");
      // llama-adapter.cpp's shape checks against the base tensor (ne[0] = n_in, ne[1] = n_out).
      ASSERT_EQ(a.ne[0], static_cast<uint64_t>(e.in_features)) << base;
      ASSERT_EQ(b.ne[1], static_cast<uint64_t>(e.out_features)) << base;
      ASSERT_EQ(a.ne[1], b.ne[0]) << base;
      const int64_t r = static_cast<int64_t>(a.ne[1]);
      auto av = f.read_f32(base + ".lora_a");
      auto bv = f.read_f32(base + ".lora_b");
      auto A = torch::from_blob(av.data(), {r, e.in_features}, torch::kFloat32).to(torch::kDouble);
      auto B = torch::from_blob(bv.data(), {e.out_features, r}, torch::kFloat32).to(torch::kDouble);
      auto cpp_delta = (alpha / r) * torch::matmul(B, A);
      auto ours = s.delta_weight(e.module).to(torch::kDouble);
      if (family == "llama" && e.type == "q_proj") ours = llama_rope_permute_rows(ours, m.config.num_heads);
      if (family == "llama" && e.type == "k_proj") ours = llama_rope_permute_rows(ours, m.config.num_kv_heads);
      EXPECT_LT((cpp_delta - ours).abs().max().item<double>(), 1e-4 * (1 + ours.abs().max().item<double>()))
          << family << " " << base;
      ++pairs;
    }
    EXPECT_EQ(f.tensors().size(), 2 * pairs);
  }
}

}  // namespace
}  // namespace et
