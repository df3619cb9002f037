// Varlen attention: sequence offsets from segment ids by hand; the flash path (CUDA, bfloat16 and
// float16) and the CPU kernel (float32) against the explicit per-sequence reference at odd sequence lengths, grouped-query heads
// and a sliding window; the reference's backward against finite differences; and the reference
// against a property: a packed row attends exactly like its sequences run one by one.
#include <gtest/gtest.h>

#include "ops/common/op_harness.h"
#include "ops/common/kernel_path.h"
#include "ops/varlen_attention/varlen_attention.h"
#include "ops/varlen_attention/varlen_attention_cpu.h"

namespace {

using namespace et::ops;
using namespace et::ops::test;

TEST(VarlenAttention, OffsetsFollowTheRunsOfEachRow) {
  // row 0: conversations 0 (3 tokens), 1 (2 tokens), padding (1); row 1: one conversation of 6.
  const std::vector<int32_t> seg{0, 0, 0, 1, 1, -1, 0, 0, 0, 0, 0, 0};
  const VarlenSeqs s = varlen_from_segments(seg.data(), 2, 6, torch::kCPU);
  EXPECT_EQ(s.cu, (std::vector<int32_t>{0, 3, 5, 6, 12}));
  EXPECT_EQ(s.max_len, 6);
  EXPECT_EQ(s.total(), 12);
  EXPECT_TRUE(torch::equal(s.cu_seqlens, torch::tensor({0, 3, 5, 6, 12}, torch::kInt32)));
}

VarlenSeqs seqs_of(const std::vector<int32_t>& lens, torch::Device dev) {
  std::vector<int32_t> seg;
  for (size_t i = 0; i < lens.size(); ++i) seg.insert(seg.end(), static_cast<size_t>(lens[i]), static_cast<int32_t>(i));
  return varlen_from_segments(seg.data(), 1, static_cast<int64_t>(seg.size()), dev);
}

OpCheck attn_check(std::vector<int32_t> lens, int64_t window) {
  auto run = [lens, window](const std::vector<torch::Tensor>& x, bool fast) {
    const VarlenSeqs s = seqs_of(lens, x[0].device());
    const double scale = 1.0 / std::sqrt(static_cast<double>(x[0].size(2)));
    return std::vector<torch::Tensor>{fast ? varlen_attention(x[0], x[1], x[2], s, scale, window)
                                           : varlen_attention_ref(x[0], x[1], x[2], s, scale, window)};
  };
  return {"varlen_attention", [run](const std::vector<torch::Tensor>& x) { return run(x, true); },
          [run](const std::vector<torch::Tensor>& x) { return run(x, false); }};
}

OpCase attn_case(const std::vector<int32_t>& lens, int64_t hq, int64_t hkv, int64_t d) {
  int64_t n = 0;
  std::string label = "lens=";
  for (auto l : lens) n += l, label += std::to_string(l) + ",";
  torch::manual_seed(n + hq);
  return {label + " heads " + std::to_string(hq) + "/" + std::to_string(hkv) + " d=" + std::to_string(d),
          {torch::randn({n, hq, d}), torch::randn({n, hkv, d}), torch::randn({n, hkv, d})},
          {true, true, true},
          {}};
}

TEST(VarlenAttention, FlashMatchesTheReferenceAtOddLengths) {
  for (const auto& dev : devices())
    for (int64_t window : {int64_t{0}, int64_t{16}})
      for (const auto& lens : std::vector<std::vector<int32_t>>{{1, 31, 33}, {4097}, {7, 1, 1, 40}})
        for (auto [hq, hkv] : std::vector<std::pair<int64_t, int64_t>>{{4, 2}, {3, 3}})
          for (auto dt : {torch::kBFloat16, torch::kFloat16, torch::kFloat32}) {
            if (dev.is_cuda() && dt == torch::kFloat32) continue;  // the flash kernel takes 16-bit inputs
            // On the CPU the op is its reference: one dtype of the short cases checks the dispatch
            // (the float64 reference of a 4097-token sequence takes minutes there).
            if (dev.is_cpu() && (dt != torch::kFloat32 || lens.size() == 1)) continue;
            expect_matches_reference(attn_check(lens, window), attn_case(lens, hq, hkv, 64), dt, dev);
          }
}

TEST(VarlenAttention, CpuKernelMatchesTheReferenceAtOddHeadDims) {
  // head_dim 8 is stories260K's, 64 the ~30M shape's; 1 and 33 leave every vector tail; the
  // kernel's query blocks are 32 rows (31, 33, 64, 97: one, two, three blocks and their tails);
  // a window shorter than a sequence
  for (int64_t d : {int64_t{1}, int64_t{8}, int64_t{33}, int64_t{64}})
    for (int64_t window : {int64_t{0}, int64_t{5}})
      for (const auto& lens : std::vector<std::vector<int32_t>>{{1, 31, 33}, {2, 1, 64}, {97}})
        expect_matches_reference(attn_check(lens, window), attn_case(lens, 6, 2, d), torch::kFloat32, torch::kCPU);
}

TEST(VarlenAttention, CpuKernelOnALongSequence) {
  // 1025 queries: 33 query blocks, the last of one row, score rows 1025 wide (4097 would take the
  // float64 reference minutes)
  const std::vector<int32_t> lens{1025};
  expect_matches_reference(attn_check(lens, 0), attn_case(lens, 2, 1, 8), torch::kFloat32, torch::kCPU);
}

TEST(VarlenAttention, CpuKernelRunsOnTheFastPathOnly) {
  // the fast path's result differs from the reference's in the last bits; the reference path gives
  // the reference exactly
  const auto c = attn_case({7, 30}, 4, 2, 16);
  const VarlenSeqs s = seqs_of({7, 30}, torch::kCPU);
  const torch::Tensor want = varlen_attention_ref(c.inputs[0], c.inputs[1], c.inputs[2], s, 0.25);
  {
    KernelPathScope ref(KernelPath::reference);
    EXPECT_TRUE(torch::equal(varlen_attention(c.inputs[0], c.inputs[1], c.inputs[2], s, 0.25), want));
  }
  const torch::Tensor fast = et::ops::detail::varlen_attention_cpu(c.inputs[0], c.inputs[1], c.inputs[2], s, 0.25, 0);
  EXPECT_LT(relative_error(fast, want), 1e-6);
  EXPECT_TRUE(torch::equal(varlen_attention(c.inputs[0], c.inputs[1], c.inputs[2], s, 0.25), fast));
}

TEST(VarlenAttention, CpuExpIsAccurate) {
  double worst = 0;
  for (float x = -87.f; x <= 88.f; x += 0.01f) {
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::fabs(et::ops::cpu::varlen_exp(x) - want) / want);
  }
  EXPECT_LT(worst, 5e-7);
  EXPECT_GT(et::ops::cpu::varlen_exp(-1e30f), 0.f);  // far below: clamped, never NaN
  EXPECT_LT(et::ops::cpu::varlen_exp(-1e30f), 1e-37f);
}

TEST(VarlenAttention, DenseRowsAreRecognized) {
  EXPECT_EQ(dense_row_length(seqs_of({5, 5, 5}, torch::kCPU)), 5);
  EXPECT_EQ(dense_row_length(seqs_of({4097}, torch::kCPU)), 4097);
  EXPECT_EQ(dense_row_length(seqs_of({5, 4, 5}, torch::kCPU)), 0);
  EXPECT_EQ(dense_row_length(seqs_of({5, 5, 6}, torch::kCPU)), 0);
  EXPECT_EQ(dense_row_length(VarlenSeqs{}), 0);
}

// Dense rows (one sequence per row) take cuDNN's attention on the GPU, or flash when selected:
// each against the reference, forward and backward, at odd row lengths and grouped-query heads.
// (Rows of one token are left out: their q and k gradients are exactly zero, so a relative error
// means nothing there; they run in the packed cases above.)
TEST(VarlenAttention, DenseRowsMatchTheReferenceWithEitherKernel) {
  bool any = false;
  for (const auto& dev : devices()) {
    if (!dev.is_cuda()) continue;
    any = true;
    for (DenseAttention kernel : {DenseAttention::cudnn, DenseAttention::flash}) {
      set_dense_attention(kernel);
      for (const auto& lens : std::vector<std::vector<int32_t>>{{33, 33, 33}, {15, 15}, {16, 16, 16}, {4097}, {512, 512}})
        for (auto [hq, hkv] : std::vector<std::pair<int64_t, int64_t>>{{4, 2}, {3, 3}, {32, 8}})
          for (auto dt : {torch::kBFloat16, torch::kFloat16}) {
            SCOPED_TRACE(kernel == DenseAttention::cudnn ? "cudnn" : "flash");
            expect_matches_reference(attn_check(lens, 0), attn_case(lens, hq, hkv, 64), dt, dev);
          }
    }
    set_dense_attention(DenseAttention::cudnn);
  }
  if (!any) GTEST_SKIP() << "no CUDA device: the dense-row kernels run on the GPU only";
}

TEST(VarlenAttention, ReferenceBackwardMatchesFiniteDifferences) {
  expect_reference_gradients_match_finite_differences(attn_check({3, 1, 5}, 0), attn_case({3, 1, 5}, 2, 1, 4));
  expect_reference_gradients_match_finite_differences(attn_check({9}, 3), attn_case({9}, 2, 2, 4));
}

TEST(VarlenAttention, APackedRowAttendsLikeItsSequencesOneByOne) {
  const auto c = attn_case({5, 1, 8}, 4, 2, 8);
  const VarlenSeqs s = seqs_of({5, 1, 8}, torch::kCPU);
  const auto packed = varlen_attention_ref(c.inputs[0], c.inputs[1], c.inputs[2], s, 0.3);
  int64_t b = 0;
  for (int64_t len : {5, 1, 8}) {
    // causal attention of one sequence, written out directly
    auto q = c.inputs[0].slice(0, b, b + len).transpose(0, 1);
    auto k = c.inputs[1].slice(0, b, b + len).transpose(0, 1).repeat_interleave(2, 0);
    auto v = c.inputs[2].slice(0, b, b + len).transpose(0, 1).repeat_interleave(2, 0);
    auto scores = torch::matmul(q, k.transpose(1, 2)) * 0.3 +
                  torch::full({len, len}, -1e30).triu(1);
    auto want = torch::matmul(torch::softmax(scores, -1), v).transpose(0, 1);
    EXPECT_LT(relative_error(packed.slice(0, b, b + len), want), 1e-6) << "sequence at " << b;
    b += len;
  }
}

}  // namespace
