// Warm-starting a new plan's adapters from an old patch: the same plan copies every tensor (the
// same update everywhere); a dedicated adapter of rank >= the old one (of any kind and scale) gets
// the old update exactly; a smaller rank its best rank-r approximation (the SVD tail is the error,
// Eckart-Young); matrices the old patch left alone start with no update.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "edgetune/retune/retrain.h"
#include "retune_test_util.h"

using namespace et;
using namespace et::test;

namespace {

AdapterSet random_old(const Plan& p) {
  AdapterSet a = create_adapters(p, 5, torch::kCPU);
  torch::manual_seed(5);
  torch::NoGradGuard g;
  for (const auto& kv : a.named_parameters()) kv.second.copy_(0.1 * torch::randn(kv.second.sizes()) + 0.02);
  return a;
}

bool adapted(const Plan& p, const std::string& module) {
  for (const auto& e : p.entries)
    if (e.module == module) return e.kind != AdapterKind::none;
  return false;
}

torch::Tensor delta(const AdapterSet& s, const std::string& module) {
  return s.delta_weight(module).to(torch::kFloat64);
}

}  // namespace

TEST(WarmStart, TheSamePlanCopiesEveryTensor) {
  model::Model m = model::load_model(golden("llama"));
  const AdapterSet old = random_old(mixed_plan(m));
  AdapterSet fresh = create_adapters(old.plan, 9, torch::kCPU);
  const WarmStartCounts c = warm_start_adapters(fresh, old);
  EXPECT_EQ(c.copied, static_cast<int>(old.named_parameters().size()));
  EXPECT_EQ(c.exact + c.truncated + c.fresh, 0);
  const auto a = old.named_parameters(), b = fresh.named_parameters();
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
    EXPECT_TRUE(b[i].second.requires_grad()) << "still a trainable leaf: " << b[i].first;
  }
}

TEST(WarmStart, AWiderDedicatedAdapterGetsTheOldUpdateExactly) {
  model::Model m = model::load_model(golden("llama"));
  const AdapterSet old = random_old(mixed_plan(m));
  AdapterOptions o;
  o.rank = 8;
  o.alpha = 3;  // another scale than any old adapter
  AdapterSet fresh = create_adapters(plan_all(m, o), 9, torch::kCPU);
  const WarmStartCounts c = warm_start_adapters(fresh, old);
  int adapted_count = 0;
  for (const auto& e : fresh.plan.entries) {
    SCOPED_TRACE(e.module);
    const torch::Tensor now = delta(fresh, e.module);
    if (adapted(old.plan, e.module)) {
      ++adapted_count;
      const torch::Tensor want = delta(old, e.module);
      EXPECT_LT((now - want).abs().max().item<double>(), 1e-6 * want.abs().max().item<double>());
    } else {
      EXPECT_EQ(now.abs().max().item<double>(), 0.0) << "no old update: none now";
    }
  }
  EXPECT_EQ(c.exact, adapted_count);
  EXPECT_EQ(c.truncated, 0);
  EXPECT_EQ(c.copied, 0);
  EXPECT_EQ(c.fresh, 2 * (static_cast<int>(fresh.plan.entries.size()) - adapted_count));
}

TEST(WarmStart, ANarrowerAdapterGetsTheBestRankRApproximation) {
  model::Model m = model::load_model(golden("llama"));
  const AdapterSet old = random_old(mixed_plan(m));
  AdapterOptions o;
  o.rank = 1;
  o.alpha = 2;
  AdapterSet fresh = create_adapters(plan_all(m, o), 9, torch::kCPU);
  const WarmStartCounts c = warm_start_adapters(fresh, old);
  int truncated = 0;
  for (const auto& e : fresh.plan.entries) {
    if (!adapted(old.plan, e.module)) continue;
    SCOPED_TRACE(e.module);
    const torch::Tensor want = delta(old, e.module);
    const torch::Tensor S = std::get<1>(at::linalg_svd(want, false));
    const double tail = S.slice(0, 1).square().sum().sqrt().item<double>();
    const double err = (delta(fresh, e.module) - want).norm().item<double>();
    EXPECT_NEAR(err, tail, 1e-5 * S[0].item<double>());
    truncated += S.slice(0, 1).abs().max().item<double>() > 0;
  }
  EXPECT_EQ(c.truncated, truncated);
  EXPECT_GT(truncated, 0);
}

TEST(WarmStart, AMatrixNewToASharedAdapterStartsWithoutAnUpdate) {
  model::Model m = model::load_model(golden("llama"));
  // The old patch: the mixed plan without layer 2's q_proj in the shared q adapter.
  Plan old_plan = mixed_plan(m);
  for (auto& e : old_plan.entries)
    if (e.module == "model.layers.2.self_attn.q_proj") e.kind = AdapterKind::none;
  const AdapterSet old = random_old(old_plan);
  // The new plan: layer 2's q_proj joins the (trained) shared q adapter, and layer 1's k_proj,
  // dedicated before, moves to a new shared k adapter.
  Plan p = mixed_plan(m);
  for (auto& e : p.entries)
    if (e.module == "model.layers.1.self_attn.k_proj") {
      e.kind = AdapterKind::shared;
      e.rank = 3;
      e.alpha = 6;
      p.shared.push_back({"k_proj", 3, 6, e.in_features, e.out_features});
    }
  AdapterSet fresh = create_adapters(p, 9, torch::kCPU);
  const WarmStartCounts c = warm_start_adapters(fresh, old);
  EXPECT_EQ(delta(fresh, "model.layers.2.self_attn.q_proj").abs().max().item<double>(), 0.0);
  EXPECT_EQ(delta(fresh, "model.layers.1.self_attn.k_proj").abs().max().item<double>(), 0.0);
  // Everything else keeps its old update.
  for (const char* mod : {"model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj",
                          "model.layers.2.self_attn.k_proj", "model.layers.1.mlp.up_proj"})
    EXPECT_TRUE(torch::equal(delta(fresh, mod), delta(old, mod))) << mod;
  EXPECT_EQ(c.fresh, 2 + 2 + 2);  // shared k's A_t and B_t, the two vectors of each changed matrix
}
