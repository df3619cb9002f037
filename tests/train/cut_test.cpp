// The gradient cut is real: per-layer backward counters (kernels/backward_counter.h, bumped by the
// backward of every RMSNorm and NF4 linear a layer runs) show no backward below the cut layer,
// the exact op count above it, and every layer busy in an uncut run with the same inputs (the
// embedding output requires grad in both, so without the cut the backward would reach layer 0).
// The adapter gradients of the cut run equal the uncut run's: the cut removes work, not gradient.
#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/utils.h>

#include "edgetune/adapt/adapters.h"
#include "edgetune/core/file_io.h"
#include "ops/common/backward_counter.h"
#include "edgetune/model/forward.h"
#include "edgetune/model/model.h"
#include "edgetune/train/causal_lm_loss.h"
#include "random_adapters.h"
#include "test_util.h"

using namespace et;

namespace {

model::Model golden_llama_nf4() {
  model::LoadOptions lo;
  lo.quantize_nf4 = true;
  return model::load_model(path_join(test::source_dir(), "tests/golden/llama"), lo);
}

BatchTensors random_batch(int64_t vocab) {
  torch::manual_seed(7);
  BatchTensors b;
  const int64_t B = 2, T = 9;
  b.ids = torch::randint(0, vocab, {B, T}, torch::kLong);
  b.positions = torch::arange(T, torch::kLong).unsqueeze(0).expand({B, T}).contiguous();
  b.segments = torch::zeros({B, T}, torch::kLong);
  b.target = torch::rand({B, T}) > 0.3;
  b.target.index_put_({torch::indexing::Slice(), 0}, false);
  b.num_targets = b.target.slice(1, 1).sum().item<int64_t>();
  b.num_tokens = B * T;
  return b;
}

// Layer 1: q_proj dedicated and down_proj shared; layer 2: v_proj and gate_proj dedicated, down_proj
// shared. Every tensor random (a fresh B = 0 would make the A gradients vanish).
AdapterSet cut_adapters(model::Model& m) {
  Plan p = empty_plan(m, AdapterOptions{});
  for (auto& e : p.entries) {
    const bool dedicated = (e.layer == 1 && e.type == "q_proj") ||
                           (e.layer == 2 && (e.type == "v_proj" || e.type == "gate_proj"));
    if (dedicated) {
      e.kind = AdapterKind::dedicated;
      e.rank = 2;
      e.alpha = 4;
    } else if (e.layer >= 1 && e.type == "down_proj") {
      e.kind = AdapterKind::shared;
      e.rank = 3;
      e.alpha = 3;
      if (!p.shared_of("down_proj")) p.shared.push_back({"down_proj", 3, 3, e.in_features, e.out_features});
    }
  }
  return test::attach_random_adapters(m, p, 3);
}

struct RunResult {
  std::vector<int64_t> counts;
  int64_t untagged = 0;
  double loss = 0;
  std::vector<torch::Tensor> grads;
};

RunResult run(const model::Model& m, const AdapterSet& a, const BatchTensors& b, const LossOptions& o) {
  for (auto& kv : a.named_parameters()) kv.second.mutable_grad() = torch::Tensor();
  ops::reset_backward_counts();
  torch::Tensor loss = causal_lm_loss_sum(m, b, o);
  loss.backward();
  RunResult r;
  r.counts = ops::backward_counts(static_cast<int>(m.config.num_layers));
  r.untagged = ops::untagged_backward_count();
  r.loss = loss.item<double>();
  for (auto& kv : a.named_parameters()) {
    EXPECT_TRUE(kv.second.grad().defined()) << kv.first << " got no gradient";
    r.grads.push_back(kv.second.grad().defined() ? kv.second.grad().clone() : torch::zeros_like(kv.second));
  }
  return r;
}

void expect_same_grads(const AdapterSet& a, const RunResult& x, const RunResult& y, double rtol = 1e-5,
                       double atol = 1e-7) {
  auto params = a.named_parameters();
  ASSERT_EQ(x.grads.size(), y.grads.size());
  for (size_t i = 0; i < x.grads.size(); ++i) {
    EXPECT_GT(x.grads[i].abs().max().item<double>(), 0) << params[i].first;
    EXPECT_TRUE(torch::allclose(x.grads[i], y.grads[i], rtol, atol))
        << params[i].first << ": max diff " << (x.grads[i] - y.grads[i]).abs().max().item<double>();
  }
}

}  // namespace

TEST(GradientCut, NoBackwardBelowTheCutAndSameAdapterGradients) {
  model::Model m = golden_llama_nf4();
  ASSERT_EQ(m.config.num_layers, 3);
  AdapterSet a = cut_adapters(m);
  ASSERT_EQ(a.plan.cut_layer(), 1);
  const BatchTensors b = random_batch(m.config.vocab_size);
  // Both runs make the embedding output require grad (as a pipeline that enables input gradients
  // would), so only the cut can stop the backward from reaching layer 0.
  m.embed_tokens.requires_grad_(true);
  LossOptions uncut;
  uncut.cut_layer = 0;
  uncut.embeddings_trainable = true;
  LossOptions cut = uncut;
  cut.cut_layer = a.plan.cut_layer();

  RunResult with_cut = run(m, a, b, cut);
  // Layer 0: nothing. Layer 1 (its input needs no gradient; q_proj is adapted): o, post-attention
  // norm, gate, up, down = 5 backward ops (not the input norm nor the q/k/v projections).
  // Layer 2, reached from above with gradient flowing on: 2 norms + 7 projections = 9.
  EXPECT_EQ(with_cut.counts, (std::vector<int64_t>{0, 5, 9}));
  EXPECT_EQ(with_cut.untagged, 1);  // the final norm
  EXPECT_FALSE(m.embed_tokens.grad().defined());

  RunResult no_cut = run(m, a, b, uncut);
  EXPECT_EQ(no_cut.counts, (std::vector<int64_t>{9, 9, 9}));
  EXPECT_EQ(no_cut.untagged, 1);
  EXPECT_TRUE(m.embed_tokens.grad().defined());
  m.embed_tokens.mutable_grad() = torch::Tensor();

  EXPECT_DOUBLE_EQ(with_cut.loss, no_cut.loss);
  expect_same_grads(a, with_cut, no_cut);

  // Gradient checkpointing recomputes layer 2 inside backward, under its tag: same counts and
  // gradients.
  LossOptions ckpt = cut;
  ckpt.grad_checkpoint = true;
  RunResult with_ckpt = run(m, a, b, ckpt);
  EXPECT_EQ(with_ckpt.counts, (std::vector<int64_t>{0, 5, 9}));
  expect_same_grads(a, with_cut, with_ckpt);
  m.embed_tokens.requires_grad_(false);
}

TEST(GradientCut, AllMatrixLoraRunsBackwardInEveryLayer) {
  model::Model m = golden_llama_nf4();
  AdapterSet a = test::attach_random_adapters(m, plan_all(m, AdapterOptions{}), 5);
  ASSERT_EQ(a.plan.cut_layer(), 0);
  LossOptions o;
  o.cut_layer = 0;
  RunResult r = run(m, a, random_batch(m.config.vocab_size), o);
  // Layer 0's input needs no gradient: its input norm and the dX of its q/k/v projections are
  // skipped; o, the post-attention norm, gate, up and down run: 5. Layers 1 and 2: 9 each.
  EXPECT_EQ(r.counts, (std::vector<int64_t>{5, 9, 9}));
}

// The loss runs the last layer only at the positions that predict a target. Against the plain
// reference (every layer at every position, full logits, log-softmax at the targets): the same loss
// and adapter gradients, with and without the cut, on packed rows with padding; and the same loss
// with no gradient (evaluation) and with the last layer below the cut.
TEST(GradientCut, LossReadsTheLastLayerOnlyWhereTargetsAreAndMatchesFullLogits) {
  model::Model m = golden_llama_nf4();
  AdapterSet a = cut_adapters(m);
  BatchTensors b = random_batch(m.config.vocab_size);
  const int64_t B = b.ids.size(0), T = b.ids.size(1);
  // Row 0: two packed conversations (5 + 4 tokens); row 1: one of 6 tokens and 3 of padding.
  auto long_tensor = [&](std::vector<int64_t> v) { return torch::tensor(v, torch::kLong).view({B, T}); };
  b.positions = long_tensor({0, 1, 2, 3, 4, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 0, 0, 0});
  b.segments = long_tensor({0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, -1, -1, -1});
  b.target = long_tensor({0, 1, 1, 0, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0}).to(torch::kBool);
  b.num_targets = b.target.sum().item<int64_t>();

  model::ForwardInputs in;
  in.positions = b.positions;
  in.segment_ids = b.segments;
  for (auto& kv : a.named_parameters()) kv.second.mutable_grad() = torch::Tensor();
  torch::Tensor logits = model::forward(m, b.ids, in);  // [B, T, V]
  torch::Tensor lp = torch::log_softmax(logits.slice(1, 0, T - 1).to(torch::kFloat32), -1);
  torch::Tensor reads = b.target.slice(1, 1);
  torch::Tensor ref = -(lp.gather(2, b.ids.slice(1, 1).unsqueeze(-1)).squeeze(-1) * reads).sum();
  ref.backward();
  RunResult reference;
  reference.loss = ref.item<double>();
  for (auto& kv : a.named_parameters()) reference.grads.push_back(kv.second.grad().clone());

  const LossPositions pos = loss_positions(b);
  EXPECT_EQ(pos.queries.sizes(), (std::vector<int64_t>{B, 6}));  // row 0 reads 6 positions, row 1 four
  EXPECT_EQ(pos.slots.numel(), b.num_targets);
  for (int cut : {0, 1}) {
    LossOptions o;
    o.cut_layer = cut;
    RunResult r = run(m, a, b, o);
    EXPECT_NEAR(r.loss, reference.loss, 1e-5 * reference.loss) << "cut " << cut;
    expect_same_grads(a, r, reference, 1e-4, 1e-6);  // float32 sums in another order
  }
  torch::NoGradGuard no_grad;
  for (int cut : {1, 3}) {
    LossOptions o;
    o.cut_layer = cut;
    EXPECT_NEAR(causal_lm_loss_sum(m, b, o).item<double>(), reference.loss, 1e-5 * reference.loss) << "cut " << cut;
  }
}

