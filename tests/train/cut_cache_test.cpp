// The cut-layer cache (train/cut_cache.h) against the uncached forward: the loss and every adapter
// gradient of a batch started from the cache equal those of the full forward, with the cache filled
// under a different packing than the batch's (so each conversation's cached states are its own);
// once filled, the layers below the cut are never read (changing their weights changes the uncached
// loss, not the cached one) and their backward never runs; and a whole training run from the cache
// reproduces every loss of the uncached run.
#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/utils.h>

#include "edgetune/adapt/adapters.h"
#include "edgetune/adapt/plan.h"
#include "edgetune/core/file_io.h"
#include "ops/common/backward_counter.h"
#include "edgetune/model/model.h"
#include "edgetune/train/causal_lm_loss.h"
#include "edgetune/train/cut_cache.h"
#include "edgetune/train/trainer.h"
#include "random_adapters.h"
#include "test_util.h"

using namespace et;

namespace {

// Conversations of odd lengths with random ids and targets.
std::vector<TokenizedExample> random_examples(int64_t vocab) {
  torch::manual_seed(11);
  std::vector<TokenizedExample> out;
  for (int n : {7, 13, 5, 11, 9, 3}) {
    TokenizedExample e;
    auto ids = torch::randint(0, vocab, {n}, torch::kInt32);
    auto tg = torch::rand({n}) > 0.4;
    for (int t = 0; t < n; ++t) {
      e.ids.push_back(ids[t].item<int32_t>());
      e.target.push_back(t > 0 && tg[t].item<bool>());
    }
    e.source = "random:" + std::to_string(out.size() + 1);
    out.push_back(e);
  }
  return out;
}

// Dedicated rank-2 LoRA (random, so every gradient is non-zero) on every matrix of layers >= 1.
AdapterSet adapters_from_layer_1(model::Model& m) {
  Plan p = empty_plan(m, AdapterOptions{});
  for (auto& e : p.entries)
    if (e.layer >= 1) {
      e.kind = AdapterKind::dedicated;
      e.rank = 2;
      e.alpha = 4;
    }
  return test::attach_random_adapters(m, p, 3);
}

struct LossAndGrads {
  double loss = 0;
  std::vector<torch::Tensor> grads;
  std::vector<int64_t> counts;
};

LossAndGrads loss_and_grads(const model::Model& m, const AdapterSet& a, const BatchTensors& b, int cut) {
  for (auto& kv : a.named_parameters()) kv.second.mutable_grad() = torch::Tensor();
  ops::reset_backward_counts();
  LossOptions o;
  o.cut_layer = cut;
  torch::Tensor loss = causal_lm_loss_sum(m, b, o);
  loss.backward();
  LossAndGrads r;
  r.loss = loss.item<double>();
  r.counts = ops::backward_counts(static_cast<int>(m.config.num_layers));
  for (auto& kv : a.named_parameters()) r.grads.push_back(kv.second.grad().clone());
  return r;
}

// A short QLoRA run on stories260K's tool conversations with train.cut_cache set, no evals.
Recipe stories_run(const std::string& model, const std::string& cut_cache, int steps, const std::string& dir) {
  Recipe r;
  r.model.path = model;
  r.model.device = "cpu";
  r.model.dtype = "float32";
  r.quant.backbone = "nf4";
  r.data.train = path_join(test::source_dir(), "data/stories-tools/train.jsonl");
  r.data.max_seq_len = 128;
  r.train.max_steps = steps;
  r.train.batch_size = 4;
  r.train.lr = 3e-3;
  r.train.warmup_steps = 0;
  r.train.eval_every = 0;
  r.train.seed = 2;
  r.train.cut_cache = cut_cache;
  r.output.dir = test::temp_dir(dir);
  r.output.export_peft = false;
  return r;
}

}  // namespace

TEST(CutCache, BatchFromTheCacheEqualsTheFullForwardAndNeverReadsBelowTheCut) {
  model::LoadOptions lo;
  lo.quantize_nf4 = true;
  model::Model m = model::load_model(path_join(test::source_dir(), "tests/golden/llama"), lo);
  ASSERT_EQ(m.config.num_layers, 3);
  torch::manual_seed(5);
  AdapterSet a = adapters_from_layer_1(m);
  ASSERT_EQ(a.plan.cut_layer(), 1);
  const auto examples = random_examples(m.config.vocab_size);

  // The training batch: one shuffled packing into rows of 20; the cache: identity order, rows of 16,
  // one row per fill batch.
  const auto rows = pack_examples(examples, {4, 1, 5, 0, 3, 2}, 20, true, 0);
  ASSERT_GE(rows.size(), 3u);
  const Batch batch = make_batch(rows, 0, rows.size(), 0);
  const CutCache cache = build_cut_cache(m, examples, 1, 1, 16);
  EXPECT_EQ(cache.hidden.size(0), 7 + 13 + 5 + 11 + 9 + 3 + 1);
  EXPECT_EQ(cache.hidden[-1].abs().sum().item<double>(), 0);

  BatchTensors full = to_tensors(batch, torch::kCPU);
  BatchTensors cached = full;
  cached.cut_hidden = cut_cache_hidden(cache, batch);
  const LossAndGrads x = loss_and_grads(m, a, full, 1);
  const LossAndGrads y = loss_and_grads(m, a, cached, 1);
  EXPECT_NEAR(x.loss, y.loss, 1e-5 * std::abs(x.loss));
  auto params = a.named_parameters();
  ASSERT_EQ(x.grads.size(), y.grads.size());
  for (size_t i = 0; i < x.grads.size(); ++i) {
    EXPECT_GT(x.grads[i].abs().max().item<double>(), 0) << params[i].first;
    // float32 rounding only (the cache was filled by attention over rows of another length, and
    // CPU reductions split across threads): a wrong cache row would differ by O(1).
    EXPECT_LT((x.grads[i] - y.grads[i]).abs().max().item<double>(), 1e-4 * x.grads[i].abs().max().item<double>())
        << params[i].first << ": max diff " << (x.grads[i] - y.grads[i]).abs().max().item<double>() << " of "
        << x.grads[i].abs().max().item<double>();
  }
  // No backward below the cut either way; layers 1 and 2 run their whole backward (layer 1's
  // input needs no gradient: 5 ops, as in GradientCut.NoBackwardBelowTheCutAndSameAdapterGradients
  // counts them; layer 2: 9).
  EXPECT_EQ(x.counts, (std::vector<int64_t>{0, 5, 9}));
  EXPECT_EQ(y.counts, x.counts);

  // Layer 0's norms replaced by random ones: the full forward sees it, the cached batch does not.
  {
    torch::NoGradGuard g;
    m.layers[0].input_layernorm.copy_(torch::randn_like(m.layers[0].input_layernorm) * 3);
    m.layers[0].post_attention_layernorm.copy_(torch::randn_like(m.layers[0].post_attention_layernorm) * 3);
  }
  const double x2 = loss_and_grads(m, a, full, 1).loss;
  const double y2 = loss_and_grads(m, a, cached, 1).loss;
  EXPECT_GT(std::abs(x2 - x.loss), 1e-2 * std::abs(x.loss));
  EXPECT_NEAR(y2, y.loss, 1e-6 * std::abs(y.loss));
}

TEST(CutCache, RejectsABatchOfOtherConversations) {
  model::Model m = model::load_model(path_join(test::source_dir(), "tests/golden/llama"), {});
  auto examples = random_examples(m.config.vocab_size);
  const CutCache cache = build_cut_cache(m, {examples[0], examples[2]}, 2, 4, 16);
  const auto rows = pack_examples(examples, {1, 0}, 32, true, 0);  // conversation 1 is 13 tokens long
  const Batch b = make_batch(rows, 0, rows.size(), 0);
  const std::string e = test::error_of([&] { cut_cache_hidden(cache, b); });
  EXPECT_NE(e.find("[cut_cache] conversation 1 position 5 is past its 5 cached tokens"), std::string::npos) << e;
}

TEST(CutCache, TrainingFromTheCacheReproducesEveryLoss) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  auto run = [&](const std::string& cut_cache) {
    const Recipe r = stories_run(model, cut_cache, 6, "cut-cache-" + cut_cache);
    TrainSession s = open_session(r);
    Plan p = empty_plan(s.model, r.adapters);
    for (auto& e : p.entries)
      if (e.layer >= 3) {
        e.kind = AdapterKind::dedicated;
        e.rank = 4;
        e.alpha = 8;
      }
    apply_plan(s, p);
    std::vector<double> losses;
    TrainHooks h;
    h.after_step = [&](int64_t, double l) {
      losses.push_back(l);
      return true;
    };
    const TrainResult res = run_training(s, false, h);
    return std::make_pair(losses, res.cut_cache_seconds);
  };
  const auto [plain, no_cache] = run("off");
  const auto [cached, fill_s] = run("on");
  EXPECT_LT(no_cache, 0);
  EXPECT_GE(fill_s, 0);
  ASSERT_EQ(plain.size(), 6u);
  ASSERT_EQ(cached.size(), 6u);
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(plain[i], cached[i], 1e-5 * plain[i]) << "step " << i + 1;
  EXPECT_LT(plain.back(), plain.front());  // it trains
}

TEST(CutCache, WarmupAdaptersTrainThenFreezeAndTheCacheStartsAfterThem) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  // LoRA on every matrix of layers 3-4 for the whole run; layers 0-2 warm-up LoRA for 2 of 5 steps.
  struct Run {
    std::vector<double> losses;
    std::vector<std::vector<int64_t>> counts;          // backward passes per layer, per step
    std::vector<std::vector<torch::Tensor>> warm, top;  // adapter tensors after each step
    double fill_s = -1;
  };
  auto run = [&](const std::string& cut_cache) {
    const Recipe r = stories_run(model, cut_cache, 5, "cut-cache-warmup-" + cut_cache);
    TrainSession s = open_session(r);
    Plan p = empty_plan(s.model, r.adapters);
    for (auto& e : p.entries) {
      e.kind = AdapterKind::dedicated;
      e.rank = 4;
      e.alpha = 8;
      if (e.layer < 3) e.train_steps = 2;
    }
    apply_plan(s, p);
    Run out;
    TrainHooks h;
    h.after_step = [&](int64_t, double l) {
      out.losses.push_back(l);
      out.counts.push_back(ops::backward_counts(static_cast<int>(s.model.config.num_layers)));
      ops::reset_backward_counts();
      std::vector<torch::Tensor> warm, top;
      for (const auto& kv : s.adapters.dedicated) {
        auto& dst = kv.first.find("layers.3.") != std::string::npos ? top : warm;
        if (kv.first.find("layers.0.") != std::string::npos || kv.first.find("layers.3.") != std::string::npos)
          dst.push_back(kv.second.B.detach().clone());
      }
      out.warm.push_back(warm);
      out.top.push_back(top);
      return true;
    };
    ops::reset_backward_counts();
    out.fill_s = run_training(s, false, h).cut_cache_seconds;
    return out;
  };
  const Run plain = run("off"), cached = run("on");
  ASSERT_EQ(plain.losses.size(), 5u);
  ASSERT_EQ(cached.losses.size(), 5u);
  EXPECT_LT(plain.fill_s, 0);
  EXPECT_GE(cached.fill_s, 0);  // filled when the warm-up ended, with the frozen adapters applied
  for (const Run* r : {&plain, &cached}) {
    for (size_t k = 0; k < 5; ++k) {
      for (int l = 0; l < 5; ++l) {
        const bool trains = l >= 3 || k < 2;  // steps 1-2 reach layer 0, steps 3-5 stop at layer 3
        if (trains)
          EXPECT_GT(r->counts[k][static_cast<size_t>(l)], 0) << "step " << k + 1 << " layer " << l;
        else
          EXPECT_EQ(r->counts[k][static_cast<size_t>(l)], 0) << "step " << k + 1 << " layer " << l;
      }
    }
    // Warm-up adapters move in steps 1-2 and never after; the others move every step.
    for (size_t i = 0; i < r->warm[0].size(); ++i) {
      EXPECT_GT((r->warm[1][i] - r->warm[0][i]).abs().max().item<double>(), 0);
      for (size_t k = 2; k < 5; ++k) EXPECT_TRUE(torch::equal(r->warm[k][i], r->warm[1][i])) << "step " << k + 1;
    }
    for (size_t i = 0; i < r->top[0].size(); ++i)
      for (size_t k = 1; k < 5; ++k) EXPECT_GT((r->top[k][i] - r->top[k - 1][i]).abs().max().item<double>(), 0);
  }
  // The cache holds the frozen adapters' effect: every loss equals the uncached run's.
  for (size_t i = 0; i < 5; ++i)
    EXPECT_NEAR(plain.losses[i], cached.losses[i], 1e-5 * plain.losses[i]) << "step " << i + 1;
}
