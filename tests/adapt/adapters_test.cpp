// LoRA adapters on a model: fresh adapters (B = 0) leave the output exactly unchanged under every
// policy, dtype of backbone and dropout; the layer computes s * (x A^T) B^T with the gradients of
// the chain rule written out by hand; a shared adapter equals its folded per-module form
// (effective(), delta_weight()); QLoRA equals LoRA over the dequantized weights (logits and every
// adapter gradient); wrong plans are refused naming the matrix.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <map>

#include "edgetune/adapt/adapters.h"
#include "edgetune/adapt/plan.h"
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/model/forward.h"
#include "edgetune/model/model.h"
#include "edgetune/quant/nf4.h"
#include "mixed_plan.h"
#include "test_util.h"

using namespace et;
using et::test::golden;
using et::test::mixed_plan;

namespace {

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.detach().to(torch::kFloat64) - b.detach().to(torch::kFloat64)).abs().max().item<double>();
}

torch::Tensor sample_ids(const model::Model& m, int64_t rows, int64_t len, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randint(1, m.config.vocab_size, {rows, len}, gen, at::TensorOptions().dtype(at::kLong));
}


// Every adapter tensor set to random values (B and the vectors non-zero), in place.
void randomize(const AdapterSet& a, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard g;
  for (const auto& kv : a.named_parameters()) kv.second.copy_(torch::randn(kv.second.sizes()) * 0.2 + 0.05);
}

struct PolicyCase {
  std::string name;
  std::function<Plan(const model::Model&)> make;
};

std::vector<PolicyCase> policy_cases() {
  return {
      {"all", [](const model::Model& m) {
         AdapterOptions o;
         o.rank = 4;
         return plan_all(m, o);
       }},
      {"all-rslora-dropout", [](const model::Model& m) {
         AdapterOptions o;
         o.rank = 8;
         o.rslora = true;
         o.dropout = 0.3;
         return plan_all(m, o);
       }},
      {"list", [](const model::Model& m) {
         AdapterOptions o;
         o.policy = "list";
         o.list = {"layers.1.*", "o_proj"};
         return plan_list(m, o);
       }},
      {"mixed", [](const model::Model& m) {
         Plan p = mixed_plan(m);
         p.dropout = 0.2;
         return p;
       }},
  };
}

}  // namespace

// B = 0: the model's output is exactly the base output, for every family, policy and backbone.
TEST(Adapters, FreshAdaptersLeaveTheOutputExactlyUnchanged) {
  for (const std::string fam : {"llama", "qwen2", "qwen3", "gemma3"}) {
    for (bool nf4 : {false, true}) {
      model::LoadOptions lo;
      lo.quantize_nf4 = nf4;
      model::Model m = model::load_model(golden(fam), lo);
      torch::Tensor ids = sample_ids(m, 2, 11, 9);
      torch::Tensor base;
      {
        torch::NoGradGuard g;
        base = model::forward(m, ids);
      }
      for (const auto& pc : policy_cases()) {
        SCOPED_TRACE(fam + (nf4 ? " nf4 " : " dense ") + pc.name);
        Plan p = pc.make(m);
        AdapterSet a = create_adapters(p, 5, torch::kCPU);
        // A is drawn (non-zero), B is zero, shared vectors are one.
        for (const auto& kv : a.named_parameters()) {
          const std::string& n = kv.first;
          if (n.size() > 7 && n.compare(n.size() - 7, 7, ".lora_A") == 0) {
            EXPECT_GT(kv.second.abs().max().item<double>(), 0) << n;
          }
          if (n.size() > 7 && n.compare(n.size() - 7, 7, ".lora_B") == 0) {
            EXPECT_EQ(kv.second.abs().max().item<double>(), 0) << n;
          }
          if (n.find(".shared_") != std::string::npos) {
            EXPECT_TRUE(torch::equal(kv.second, torch::ones_like(kv.second))) << n;
          }
        }
        attach_adapters(m, a);
        torch::Tensor out_train = model::forward(m, ids);  // grad mode: dropout active
        EXPECT_TRUE(out_train.requires_grad());
        EXPECT_TRUE(torch::equal(out_train.detach(), base)) << max_abs_diff(out_train, base);
        {
          torch::NoGradGuard g;
          EXPECT_TRUE(torch::equal(model::forward(m, ids), base));
        }
        // Control: a non-zero B changes the output (the comparison above can fail).
        randomize(a, 1);
        {
          torch::NoGradGuard g;
          EXPECT_GT(max_abs_diff(model::forward(m, ids), base), 1e-4);
        }
        detach_adapters(m);
        torch::NoGradGuard g;
        EXPECT_TRUE(torch::equal(model::forward(m, ids), base)) << "detach restores the base";
      }
    }
  }
}

// One layer by hand: y = x W^T + s (x A^T) B^T; dL/dB = s g^T (x A^T), dL/dA = s (g B)^T x for
// L = sum(y * g); shared: s * ((x A_t^T) * a) B_t^T * b.
TEST(Adapters, LayerOutputAndGradientsByHand) {
  model::Model m = model::load_model(golden("llama"));
  Plan p = mixed_plan(m);
  AdapterSet a = create_adapters(p, 2, torch::kCPU);
  randomize(a, 4);
  attach_adapters(m, a);
  torch::manual_seed(3);
  {
    model::Linear& lin = m.layers[1].k_proj;  // dedicated rank 2, alpha 4: s = 2
    const LoraPair& d = a.dedicated.at(lin.name);
    EXPECT_DOUBLE_EQ(d.scale, 2.0);
    torch::Tensor x = torch::randn({3, 5, lin.in_features});
    torch::Tensor g = torch::randn({3, 5, lin.out_features});
    torch::Tensor y = model::linear_forward(lin, x);
    torch::Tensor want = at::matmul(x, lin.weight.t()) + 2.0 * at::matmul(at::matmul(x, d.A.detach().t()), d.B.detach().t());
    EXPECT_LT(max_abs_diff(y, want), 1e-5);
    (y * g).sum().backward();
    auto xf = x.reshape({-1, lin.in_features}), gf = g.reshape({-1, lin.out_features});
    torch::Tensor dB = 2.0 * at::matmul(gf.t(), at::matmul(xf, d.A.detach().t()));
    torch::Tensor dA = 2.0 * at::matmul(at::matmul(gf, d.B.detach()).t(), xf);
    EXPECT_LT(max_abs_diff(d.B.grad(), dB), 1e-4);
    EXPECT_LT(max_abs_diff(d.A.grad(), dA), 1e-4);
  }
  {
    model::Linear& lin = m.layers[2].q_proj;  // shared rank 3, alpha 6: s = 2
    const LoraPair& s = a.shared.at("q_proj");
    const SharedVectors& v = a.vectors.at(lin.name);
    torch::Tensor x = torch::randn({4, lin.in_features});
    torch::Tensor g = torch::randn({4, lin.out_features});
    torch::Tensor y = model::linear_forward(lin, x);
    torch::Tensor z = at::matmul(x, s.A.detach().t()) * v.a.detach();
    torch::Tensor want = at::matmul(x, lin.weight.t()) + 2.0 * at::matmul(z, s.B.detach().t()) * v.b.detach();
    EXPECT_LT(max_abs_diff(y, want), 1e-5);
    (y * g).sum().backward();
    // dL/db = s * sum_rows(g * (z B_t^T)); dL/da = s * sum_rows((g * b) B_t * (x A_t^T)).
    torch::Tensor db = 2.0 * (g * at::matmul(z, s.B.detach().t())).sum(0);
    torch::Tensor da = 2.0 * (at::matmul(g * v.b.detach(), s.B.detach()) * at::matmul(x, s.A.detach().t())).sum(0);
    EXPECT_LT(max_abs_diff(v.b.grad(), db), 1e-4);
    EXPECT_LT(max_abs_diff(v.a.grad(), da), 1e-4);
  }
}

// Dropout touches only the adapter's input, only in grad mode.
TEST(Adapters, DropoutOnlyInTrainingAndOnlyOnTheAdapterPath) {
  model::Model m = model::load_model(golden("qwen2"));
  AdapterOptions o;
  o.rank = 4;
  o.dropout = 0.5;
  AdapterSet a = create_adapters(plan_all(m, o), 0, torch::kCPU);
  randomize(a, 8);
  attach_adapters(m, a);
  model::Linear& lin = m.layers[0].v_proj;
  torch::Tensor x = torch::randn({6, lin.in_features});
  torch::Tensor base = at::linear(x, lin.weight, lin.bias);
  const LoraPair& d = a.dedicated.at(lin.name);
  torch::Tensor clean = base + d.scale * at::matmul(at::matmul(x, d.A.detach().t()), d.B.detach().t());
  torch::Tensor eval;
  {
    torch::NoGradGuard g;
    eval = model::linear_forward(lin, x);
  }
  EXPECT_LT(max_abs_diff(eval, clean), 1e-5);
  torch::manual_seed(1);
  torch::Tensor train = model::linear_forward(lin, x);
  EXPECT_GT(max_abs_diff(train, clean), 1e-3);
  // With the same mask drawn by hand (same seed), the training output is reproduced.
  torch::manual_seed(1);
  torch::Tensor dropped = at::dropout(x, 0.5, true);
  torch::Tensor want = base + d.scale * at::matmul(at::matmul(dropped, d.A.detach().t()), d.B.detach().t());
  EXPECT_LT(max_abs_diff(train, want), 1e-5);
}

// A shared adapter and its exact per-module form (effective(): A_m = diag(a) A_t, B_m = diag(b) B_t)
// attached as plain dedicated LoRA give the same model output; delta_weight is the formula.
TEST(Adapters, SharedEqualsItsEffectiveDedicatedForm) {
  for (const std::string fam : {"llama", "qwen2", "gemma3"}) {
    SCOPED_TRACE(fam);
    model::Model m = model::load_model(golden(fam));
    Plan p = mixed_plan(m);
    AdapterSet shared = create_adapters(p, 6, torch::kCPU);
    randomize(shared, 12);
    // The same plan with every adapter dedicated, holding the effective tensors.
    Plan dp = p;
    dp.shared.clear();
    AdapterSet dedicated;
    for (auto& e : dp.entries)
      if (e.kind == AdapterKind::shared) e.kind = AdapterKind::dedicated;
    dedicated = create_adapters(dp, 0, torch::kCPU);
    for (const auto& e : p.entries) {
      if (e.kind == AdapterKind::none) continue;
      LoraPair eff = shared.effective(e.module);
      const LoraPair& dst = dedicated.dedicated.at(e.module);
      EXPECT_DOUBLE_EQ(eff.scale, dst.scale) << e.module;
      torch::NoGradGuard g;
      dst.A.copy_(eff.A);
      dst.B.copy_(eff.B);
      // delta_weight by hand.
      torch::Tensor want;
      if (e.kind == AdapterKind::shared) {
        const LoraPair& t = shared.shared.at(e.type);
        const SharedVectors& v = shared.vectors.at(e.module);
        want = t.scale * at::matmul(at::matmul(torch::diag(v.b), t.B), at::matmul(torch::diag(v.a), t.A));
      } else {
        const LoraPair& d = shared.dedicated.at(e.module);
        want = d.scale * at::matmul(d.B, d.A);
      }
      EXPECT_LT(max_abs_diff(shared.delta_weight(e.module), want), 1e-6) << e.module;
      EXPECT_LT(max_abs_diff(dedicated.delta_weight(e.module), want), 1e-6) << e.module;
    }
    torch::Tensor ids = sample_ids(m, 2, 9, 2);
    torch::NoGradGuard g;
    attach_adapters(m, shared);
    torch::Tensor a = model::forward(m, ids);
    attach_adapters(m, dedicated);
    torch::Tensor b = model::forward(m, ids);
    EXPECT_LT(max_abs_diff(a, b), 1e-5);
    detach_adapters(m);
    EXPECT_GT(max_abs_diff(model::forward(m, ids), a), 1e-3);  // the adapters do something
    // effective() of a matrix without an adapter, or of an unknown matrix, is an error.
    EXPECT_THROW(shared.effective("model.layers.0.self_attn.v_proj"), Error);
    EXPECT_THROW(shared.effective("model.layers.9.self_attn.v_proj"), Error);
  }
}

// QLoRA equals LoRA over the dequantized weights: the same adapters on an NF4 model and on a dense
// model holding the dequantized values give the same logits and the same adapter gradients.
TEST(Adapters, QloraEqualsLoraOverDequantizedWeights) {
  std::vector<std::string> folders = {golden("llama"), golden("qwen3")};
  const std::string stories = test::shared_path("models/stories260K");
  if (!stories.empty()) folders.push_back(stories);
  for (const auto& folder : folders) {
    SCOPED_TRACE(folder);
    model::LoadOptions q;
    q.quantize_nf4 = true;
    model::Model qm = model::load_model(folder, q);
    model::Model dm = model::load_model(folder);
    auto ql = model::linear_layers(qm);
    auto dl = model::linear_layers(dm);
    for (size_t i = 0; i < ql.size(); ++i) {
      ASSERT_TRUE(ql[i]->nf4 && !ql[i]->weight.defined()) << ql[i]->name;
      dl[i]->weight = quant::nf4_dequantize(*ql[i]->nf4, torch::kFloat32, torch::kCPU);
    }
    Plan p = mixed_plan(qm);
    AdapterSet aq = create_adapters(p, 1, torch::kCPU), ad = create_adapters(p, 1, torch::kCPU);
    randomize(aq, 21);
    randomize(ad, 21);
    attach_adapters(qm, aq);
    attach_adapters(dm, ad);
    torch::Tensor ids = sample_ids(qm, 2, 12, 4);
    torch::Tensor lq = model::forward(qm, ids), ld = model::forward(dm, ids);
    EXPECT_LT(max_abs_diff(lq, ld), 1e-5 * std::max(1.0, ld.abs().max().item<double>()));
    torch::manual_seed(0);
    torch::Tensor w = torch::randn(lq.sizes());
    (lq * w).sum().backward();
    (ld * w).sum().backward();
    auto pq = aq.named_parameters(), pd = ad.named_parameters();
    ASSERT_EQ(pq.size(), pd.size());
    for (size_t i = 0; i < pq.size(); ++i) {
      ASSERT_EQ(pq[i].first, pd[i].first);
      ASSERT_TRUE(pq[i].second.grad().defined()) << pq[i].first;
      const double ref = pd[i].second.grad().abs().max().item<double>();
      EXPECT_GT(ref, 0) << pq[i].first;
      EXPECT_LT(max_abs_diff(pq[i].second.grad(), pd[i].second.grad()), 1e-4 * std::max(ref, 1e-3)) << pq[i].first;
    }
  }
}

TEST(Adapters, CreationIsDeterministicInTheSeed) {
  model::Model m = model::load_model(golden("llama"));
  Plan p = mixed_plan(m);
  auto a = create_adapters(p, 7, torch::kCPU).named_parameters();
  auto b = create_adapters(p, 7, torch::kCPU).named_parameters();
  auto c = create_adapters(p, 8, torch::kCPU).named_parameters();
  ASSERT_EQ(a.size(), b.size());
  bool any_differs = false;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
    EXPECT_TRUE(a[i].second.requires_grad()) << a[i].first;
    any_differs = any_differs || !torch::equal(a[i].second, c[i].second);
  }
  EXPECT_TRUE(any_differs);
  // PEFT's initialization bound for A: |A| <= 1/sqrt(in).
  for (const auto& kv : a) {
    if (kv.first.find("lora_A") != std::string::npos) {
      EXPECT_LE(kv.second.abs().max().item<double>(), 1.0 / std::sqrt(static_cast<double>(kv.second.size(1))) + 1e-7);
    }
  }
}

TEST(Adapters, PlansThatDoNotFitTheModelAreRefused) {
  model::Model m = model::load_model(golden("llama"));
  Plan p = mixed_plan(m);
  Plan wrong_name = p;
  wrong_name.entries[1].module = "model.layers.0.self_attn.kk_proj";
  AdapterSet a = create_adapters(wrong_name, 0, torch::kCPU);
  try {
    attach_adapters(m, a);
    FAIL() << "attached a plan naming a matrix the model lacks";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("kk_proj"), std::string::npos) << e.what();
  }
  Plan wrong_shape = p;
  wrong_shape.entries[1].in_features = 31;
  AdapterSet b = create_adapters(wrong_shape, 0, torch::kCPU);
  try {
    attach_adapters(m, b);
    FAIL() << "attached a plan with a wrong shape";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.self_attn.k_proj"), std::string::npos) << e.what();
  }
}
