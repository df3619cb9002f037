// The fast path trains like the reference path: from the same initialization and data, 50 training
// steps (the trainer's own step: forward, loss, backward, clipping, AdamW) give the same losses with
// train.kernels fast and reference. On the CPU in float32 they agree to float32 rounding; on a GPU in
// bfloat16 (the fused CUDA kernels, flash/cuDNN attention over packed rows) within bfloat16 noise.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <random>

#include "edgetune/adapt/plan.h"
#include "edgetune/core/file_io.h"
#include "edgetune/model/model.h"
#include "edgetune/train/trainer.h"
#include "ops/common/kernel_path.h"
#include "test_util.h"

namespace et {
namespace {

// Conversations of varied length (a packed batch holds several per row), each a prefix of one of
// three fixed random token sequences, so there is something to learn in 50 steps.
std::vector<TokenizedExample> random_examples(int n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(vocab - 1)), len(5, 40), which(0, 2);
  std::vector<std::vector<int32_t>> texts(3, std::vector<int32_t>(40));
  for (auto& t : texts)
    for (auto& v : t) v = id(rng);
  std::vector<TokenizedExample> out(static_cast<size_t>(n));
  for (auto& ex : out) {
    const auto& t = texts[static_cast<size_t>(which(rng))];
    ex.ids.assign(t.begin(), t.begin() + len(rng));
    ex.target.assign(ex.ids.size(), 0);
    for (size_t t = ex.ids.size() / 3; t < ex.ids.size(); ++t) ex.target[t] = 1;  // the "assistant" part
    ex.source = "random";
  }
  return out;
}

std::vector<double> losses(ops::KernelPath path, const std::string& device, const std::string& dtype, bool nf4,
                           bool grad_checkpoint, int steps) {
  ops::KernelPathScope scope(path);
  TrainSession s;
  s.recipe.model.path = path_join(test::source_dir(), "tests/golden/llama");
  s.recipe.adapters.rank = 4;
  s.recipe.adapters.alpha = 8;
  s.recipe.train.batch_size = 3;
  s.recipe.data.max_seq_len = 64;
  model::LoadOptions lo;
  lo.device = model::parse_device(device);
  lo.dtype = model::parse_compute_dtype(dtype, "test");
  lo.quantize_nf4 = nf4;
  lo.init_random = true;
  lo.init_seed = 3;
  s.model = model::load_model(s.recipe.model.path, lo);
  s.train_examples = random_examples(40, s.model.config.vocab_size, 11);
  apply_plan(s, plan_all(s.model, s.recipe.adapters));
  // B = 0 at initialization: give every adapter a random B so the first steps already differ.
  torch::manual_seed(5);
  {
    torch::NoGradGuard g;
    for (auto& p : s.params)
      if (p.name.find("lora_B") != std::string::npos) p.param.normal_(0.0, 0.02);
  }
  BatchStream stream(s.train_examples, 3, 64, /*pack=*/true, 0, 1);
  AdamW opt(s.params, {0.9, 0.999, 1e-8, 0.0});
  LossOptions o;
  o.grad_checkpoint = grad_checkpoint;
  std::vector<double> out;
  for (int i = 0; i < steps; ++i) out.push_back(train_step(s, stream, opt, 5e-3, i, o).loss);
  return out;
}

void expect_close(const std::vector<double>& fast, const std::vector<double>& ref, double tol) {
  ASSERT_EQ(fast.size(), ref.size());
  double worst = 0;
  for (size_t i = 0; i < fast.size(); ++i) worst = std::max(worst, std::fabs(fast[i] - ref[i]) / std::fabs(ref[i]));
  EXPECT_LE(worst, tol) << "first losses " << fast.front() << " / " << ref.front() << ", last " << fast.back()
                        << " / " << ref.back();
  EXPECT_LT(fast.back(), 0.97 * fast.front()) << "the run does not train";
}

TEST(KernelPath, FastAndReferenceTrainAlikeOnTheCpuInFloat32) {
  for (bool nf4 : {false, true}) {
    const auto fast = losses(ops::KernelPath::fast, "cpu", "float32", nf4, false, 50);
    const auto ref = losses(ops::KernelPath::reference, "cpu", "float32", nf4, false, 50);
    expect_close(fast, ref, 1e-4);
  }
  expect_close(losses(ops::KernelPath::fast, "cpu", "float32", true, true, 20),
               losses(ops::KernelPath::reference, "cpu", "float32", true, false, 20), 1e-4);
}

TEST(KernelPath, FastAndReferenceTrainAlikeOnTheGpuInBfloat16) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device; this test runs on a GPU machine";
  for (bool nf4 : {false, true}) {
    const auto fast = losses(ops::KernelPath::fast, "cuda", "bfloat16", nf4, false, 50);
    const auto ref = losses(ops::KernelPath::reference, "cuda", "bfloat16", nf4, false, 50);
    expect_close(fast, ref, 3e-2);
  }
  // Checkpointing's recompute (the MLP's last GEMM not rerun) trains like the plain reference.
  expect_close(losses(ops::KernelPath::fast, "cuda", "bfloat16", true, true, 20),
               losses(ops::KernelPath::reference, "cuda", "bfloat16", true, false, 20), 3e-2);
}

}  // namespace
}  // namespace et
