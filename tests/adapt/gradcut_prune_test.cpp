// GradCut's pure decisions against hand-computed expectations: keep counts, the prune schedule,
// the order in which fixed importances and costs prune matrices (min-max over the survivors of a
// type, lower layer first on ties), the phase-2 dedicated / shared / none assignment, and the
// warm-up adapters below the cut.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "edgetune/adapt/gradcut.h"
#include "edgetune/core/error.h"
#include "test_util.h"

using namespace et;

namespace {

// Six layers of q_proj (8x8), up_proj (16x8) and down_proj (8x16), all shared at rank 2.
Plan hand_plan() {
  Plan p;
  p.policy = "gradcut";
  p.num_layers = 6;
  for (const char* t : {"q_proj", "up_proj", "down_proj"}) {
    const std::string type = t;
    const int64_t in = type == "down_proj" ? 16 : 8, out = type == "up_proj" ? 16 : 8;
    p.shared.push_back({type, 2, 4, in, out});
    for (int l = 0; l < 6; ++l) {
      PlanEntry e;
      e.module = "model.layers." + std::to_string(l) + "." + (type == "q_proj" ? "self_attn." : "mlp.") + type;
      e.layer = l;
      e.type = type;
      e.in_features = in;
      e.out_features = out;
      e.kind = AdapterKind::shared;
      e.rank = 2;
      e.alpha = 4;
      p.entries.push_back(e);
    }
  }
  return p;
}

PlanEntry& entry(Plan& p, const std::string& type, int layer) {
  for (auto& e : p.entries)
    if (e.type == type && e.layer == layer) return e;
  throw std::runtime_error("no entry");
}

void set(Plan& p, const std::string& type, std::vector<double> importance, std::vector<double> cost) {
  for (int l = 0; l < 6; ++l) {
    entry(p, type, l).importance = importance[static_cast<size_t>(l)];
    entry(p, type, l).cost = cost[static_cast<size_t>(l)];
  }
}

std::vector<int> layers_of(const Plan& p, const std::vector<std::string>& modules, const std::string& type) {
  std::vector<int> out;
  for (const auto& m : modules)
    for (const auto& e : p.entries)
      if (e.module == m && e.type == type) out.push_back(e.layer);
  std::sort(out.begin(), out.end());
  return out;
}

GradCutOptions hand_options() {
  GradCutOptions o;
  o.keep_attention = 0.5;   // 3 of 6 q_proj
  o.keep_mlp = 1.0 / 3.0;   // 2 of 6 up_proj and down_proj
  o.prune_step = 2;
  o.w_importance = 1;
  o.w_cost = 2;
  o.threshold = 0.25;
  o.dedicated_rank = 4;
  o.dedicated_alpha = 8;
  o.shared_rank = 2;
  o.shared_alpha = 4;
  return o;
}

}  // namespace

TEST(GradCut, MinMaxAndConstantInput) {
  auto n = min_max({3, 1, 5});
  EXPECT_DOUBLE_EQ(n[0], 0.5);
  EXPECT_DOUBLE_EQ(n[1], 0.0);
  EXPECT_DOUBLE_EQ(n[2], 1.0);
  for (double v : min_max({2, 2, 2})) EXPECT_EQ(v, 0.0);
  EXPECT_TRUE(min_max({}).empty());
}

TEST(GradCut, KeepCountsFromFractions) {
  GradCutOptions o;  // the paper's 18/24 attention, 14/24 MLP
  EXPECT_EQ(gradcut_keep_count("q_proj", 24, o), 18);
  EXPECT_EQ(gradcut_keep_count("o_proj", 24, o), 18);
  EXPECT_EQ(gradcut_keep_count("gate_proj", 24, o), 14);
  EXPECT_EQ(gradcut_keep_count("down_proj", 24, o), 14);
  EXPECT_EQ(gradcut_keep_count("k_proj", 5, o), 4);    // 3.75
  EXPECT_EQ(gradcut_keep_count("up_proj", 5, o), 3);   // 2.92
  EXPECT_EQ(gradcut_keep_count("v_proj", 3, o), 2);    // 2.25
  EXPECT_EQ(gradcut_keep_count("up_proj", 3, o), 2);   // 1.75
  // The paper's 24-layer model: the cut can reach layer 24 - 18 = 6 at most.
  Plan deep;
  deep.num_layers = 24;
  for (int l = 0; l < 24; ++l)
    for (const char* t : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}) {
      PlanEntry e;
      e.layer = l;
      e.type = t;
      deep.entries.push_back(e);
    }
  EXPECT_EQ(gradcut_floor_layer(deep, o), 6);
  o.keep_mlp = 0.5;
  EXPECT_EQ(gradcut_keep_count("up_proj", 5, o), 3);   // 2.5 rounds up
  o.keep_mlp = 0.01;
  EXPECT_EQ(gradcut_keep_count("up_proj", 5, o), 1);   // never below one
}

TEST(GradCut, PruneScheduleAndCalibrationLength) {
  GradCutOptions o;  // 5 initial steps, prune every 10
  for (int s : {5, 15, 25, 105}) EXPECT_TRUE(gradcut_prunes_after(s, o)) << s;
  for (int s : {0, 1, 4, 6, 10, 14, 16, 20}) EXPECT_FALSE(gradcut_prunes_after(s, o)) << s;
  o.initial_full_steps = 0;
  EXPECT_TRUE(gradcut_prunes_after(0, o));

  Plan p = hand_plan();
  GradCutOptions h = hand_options();
  h.initial_full_steps = 5;
  h.prune_interval = 10;
  // q prunes 3, up and down 4 each: ceil(4 / 2) = 2 events, after steps 5 and 15.
  EXPECT_EQ(gradcut_calibration_steps(p, h), 15);
  h.prune_step = 4;  // one event
  EXPECT_EQ(gradcut_calibration_steps(p, h), 5);
  h.prune_step = 1;  // four events: 5, 15, 25, 35
  EXPECT_EQ(gradcut_calibration_steps(p, h), 35);
  h.calibration_steps = 7;
  EXPECT_EQ(gradcut_calibration_steps(p, h), 7);
  // Highest reachable cut: q keeps 3 (layers 5, 4, 3 at best), up and down 2 (5, 4): layer 3.
  EXPECT_EQ(gradcut_floor_layer(p, hand_options()), 3);
  auto keep = gradcut_keep_counts(p, hand_options());
  EXPECT_EQ(keep.at("q_proj"), 3);
  EXPECT_EQ(keep.at("up_proj"), 2);
  EXPECT_EQ(keep.at("down_proj"), 2);
}

TEST(GradCut, PruningOrderKeepCountsAndAssignment) {
  Plan p = hand_plan();
  const GradCutOptions o = hand_options();
  // q_proj: mm(I) = [.8 0 .4 .2 .6 1], mm(C) = [1 .8 .6 .4 .2 0]
  //   S = mm(I) - 2 mm(C) = [-1.2 -1.6 -0.8 -0.6 0.2 1.0]
  set(p, "q_proj", {5, 1, 3, 2, 4, 6}, {6, 5, 4, 3, 2, 1});
  // up_proj: everything equal -> every score 0 -> ties go to the lower layer.
  set(p, "up_proj", {2, 2, 2, 2, 2, 2}, {1, 1, 1, 1, 1, 1});
  // down_proj: layer 0 far more important than the rest. mm(I) = [1 0 0 0 0 0]
  //   S = [-1 -1.6 -1.2 -0.8 -0.4 0]
  set(p, "down_proj", {10, 0, 0, 0, 0, 0}, {6, 5, 4, 3, 2, 1});
  const auto keep = gradcut_keep_counts(p, o);

  auto first = gradcut_prune(p, o, keep, o.prune_step);
  EXPECT_NEAR(entry(p, "q_proj", 0).score, -1.2, 1e-12);
  EXPECT_NEAR(entry(p, "q_proj", 1).score, -1.6, 1e-12);
  EXPECT_NEAR(entry(p, "q_proj", 4).score, 0.2, 1e-12);
  EXPECT_NEAR(entry(p, "down_proj", 0).score, -1.0, 1e-12);
  EXPECT_EQ(layers_of(p, first, "q_proj"), (std::vector<int>{0, 1}));
  EXPECT_EQ(layers_of(p, first, "up_proj"), (std::vector<int>{0, 1}));
  EXPECT_EQ(layers_of(p, first, "down_proj"), (std::vector<int>{1, 2}));
  EXPECT_EQ(entry(p, "q_proj", 0).kind, AdapterKind::none);
  EXPECT_EQ(entry(p, "q_proj", 0).rank, 0);

  // Second prune, min-max over the survivors only.
  // q (layers 2..5): mm(I) of [3 2 4 6] = [.25 0 .5 1], mm(C) of [4 3 2 1] = [1 2/3 1/3 0]
  //   S = [-1.75 -4/3 -1/6 1]; only 4 - 3 = 1 may go: layer 2.
  // down (layers 0, 3, 4, 5): mm(I) = [1 0 0 0], mm(C) of [6 3 2 1] = [1 .4 .2 0]
  //   S = [-1 -.8 -.4 0]: layers 0 and 3 go.
  auto second = gradcut_prune(p, o, keep, o.prune_step);
  EXPECT_NEAR(entry(p, "q_proj", 2).score, -1.75, 1e-12);
  EXPECT_NEAR(entry(p, "q_proj", 3).score, -4.0 / 3.0, 1e-12);
  EXPECT_NEAR(entry(p, "down_proj", 3).score, -0.8, 1e-12);
  EXPECT_EQ(layers_of(p, second, "q_proj"), (std::vector<int>{2}));
  EXPECT_EQ(layers_of(p, second, "up_proj"), (std::vector<int>{2, 3}));
  EXPECT_EQ(layers_of(p, second, "down_proj"), (std::vector<int>{0, 3}));
  // Pruned entries keep the score they had when pruned.
  EXPECT_NEAR(entry(p, "q_proj", 1).score, -1.6, 1e-12);

  // Keep counts reached: nothing more goes.
  EXPECT_TRUE(gradcut_prune(p, o, keep, o.prune_step).empty());
  std::map<std::string, int> survivors;
  for (const auto& e : p.entries) survivors[e.type] += e.kind != AdapterKind::none;
  EXPECT_EQ(survivors["q_proj"], 3);
  EXPECT_EQ(survivors["up_proj"], 2);
  EXPECT_EQ(survivors["down_proj"], 2);
  EXPECT_EQ(p.cut_layer(), 3);

  // Phase 2. q survivors (3, 4, 5): n = mm([2 4 6]) = [0 .5 1], mean .5, std sqrt(1/6) = .408,
  // threshold .5 + .25 * .408 = .602 -> layer 5 dedicated, 3 and 4 shared. up: all equal ->
  // n = 0 everywhere, threshold 0, nobody strictly above: shared. down survivors (4, 5) have
  // equal importance: shared.
  Plan f = gradcut_assign(p, o);
  EXPECT_EQ(f.policy, "gradcut");
  EXPECT_EQ(entry(f, "q_proj", 5).kind, AdapterKind::dedicated);
  EXPECT_EQ(entry(f, "q_proj", 5).rank, 4);
  EXPECT_EQ(entry(f, "q_proj", 5).alpha, 8);
  EXPECT_EQ(entry(f, "q_proj", 4).kind, AdapterKind::shared);
  EXPECT_EQ(entry(f, "q_proj", 3).kind, AdapterKind::shared);
  EXPECT_EQ(entry(f, "q_proj", 3).rank, 2);
  for (int l : {0, 1, 2}) EXPECT_EQ(entry(f, "q_proj", l).kind, AdapterKind::none) << l;
  for (int l : {4, 5}) EXPECT_EQ(entry(f, "up_proj", l).kind, AdapterKind::shared) << l;
  for (int l : {4, 5}) EXPECT_EQ(entry(f, "down_proj", l).kind, AdapterKind::shared) << l;
  EXPECT_EQ(f.count(AdapterKind::dedicated), 1);
  EXPECT_EQ(f.count(AdapterKind::shared), 6);
  EXPECT_EQ(f.count(AdapterKind::none), 11);
  // Final scores over the survivors: q layer 5 = 1 - 0 = 1, layer 3 = 0 - 2 * 1 = -2.
  EXPECT_NEAR(entry(f, "q_proj", 5).score, 1.0, 1e-12);
  EXPECT_NEAR(entry(f, "q_proj", 3).score, -2.0, 1e-12);
  ASSERT_EQ(f.shared.size(), 3u);
  // Trainable parameters: q dedicated 4 * (8 + 8); shared q 2 * (8 + 8) + 2 vectors of 2 + 8;
  // up 2 * (8 + 16) + 2 * (2 + 16); down 2 * (16 + 8) + 2 * (2 + 8).
  EXPECT_EQ(f.trainable_parameters(), 64 + 32 + 20 + 48 + 36 + 48 + 20);
}

TEST(GradCut, AssignmentThresholdFollowsT) {
  // One type, four survivors with n = [0 .1 .2 1]: mean .325, std = sqrt(.156875) = .3961.
  // T = 0.25: threshold .4240 -> only the last is dedicated; T = -0.5: .1270 -> the last two.
  Plan p = hand_plan();
  GradCutOptions o = hand_options();
  p.entries.erase(std::remove_if(p.entries.begin(), p.entries.end(), [](const PlanEntry& e) { return e.type != "q_proj"; }),
                  p.entries.end());
  p.shared.resize(1);
  entry(p, "q_proj", 0).kind = AdapterKind::none;
  entry(p, "q_proj", 1).kind = AdapterKind::none;
  const double imp[] = {0, 0, 1, 2, 3, 11};
  for (int l = 0; l < 6; ++l) entry(p, "q_proj", l).importance = imp[l];
  auto kinds = [&](const Plan& f) {
    std::vector<AdapterKind> k;
    for (int l = 0; l < 6; ++l) k.push_back(entry(const_cast<Plan&>(f), "q_proj", l).kind);
    return k;
  };
  using K = AdapterKind;
  EXPECT_EQ(kinds(gradcut_assign(p, o)), (std::vector<K>{K::none, K::none, K::shared, K::shared, K::shared, K::dedicated}));
  o.threshold = -0.5;
  EXPECT_EQ(kinds(gradcut_assign(p, o)), (std::vector<K>{K::none, K::none, K::shared, K::shared, K::dedicated, K::dedicated}));
  // One survivor (n = 0, std 0): shared for T >= 0, dedicated for T < 0.
  for (int l = 2; l < 5; ++l) entry(p, "q_proj", l).kind = AdapterKind::none;
  EXPECT_EQ(kinds(gradcut_assign(p, o)), (std::vector<K>{K::none, K::none, K::none, K::none, K::none, K::dedicated}));
  o.threshold = 0.25;
  EXPECT_EQ(kinds(gradcut_assign(p, o)), (std::vector<K>{K::none, K::none, K::none, K::none, K::none, K::shared}));
}

TEST(GradCut, CalibrationPlanSharesEveryMatrixAndRejectsMixedShapes) {
  Plan t = hand_plan();
  for (auto& e : t.entries) {
    e.kind = AdapterKind::none;
    e.rank = 0;
  }
  t.shared.clear();
  GradCutOptions o;
  Plan c = gradcut_calibration_plan(t, o);
  EXPECT_EQ(c.count(AdapterKind::shared), 18);
  ASSERT_EQ(c.shared.size(), 3u);
  EXPECT_EQ(c.shared_of("up_proj")->rank, 16);
  EXPECT_EQ(c.shared_of("up_proj")->out_features, 16);
  EXPECT_EQ(c.cut_layer(), 0);
  t.entries[3].out_features = 9;
  try {
    gradcut_calibration_plan(t, o);
    FAIL() << "mixed shapes accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.3.self_attn.q_proj"), std::string::npos) << e.what();
  }
}

TEST(GradCut, WarmupAdaptersGoBelowTheCutOnlyAndTheCutHoldsAfterThem) {
  GradCutOptions o;
  EXPECT_EQ(gradcut_warmup_steps(o, 150), 0);  // off by default: the paper's procedure
  o.warmup_fraction = 0.2;
  EXPECT_EQ(gradcut_warmup_steps(o, 150), 30);
  o.warmup_fraction = 0.001;
  EXPECT_EQ(gradcut_warmup_steps(o, 150), 1);  // a positive fraction warms at least one step

  // Survivors: q and up dedicated in layers 3-5, down shared in layer 4; everything else none.
  Plan p = hand_plan();
  for (auto& e : p.entries) {
    const bool keep = e.layer >= 3 && (e.type != "down_proj" || e.layer == 4);
    if (!keep) {
      e.kind = AdapterKind::none;
      e.rank = 0;
      e.alpha = 0;
    } else if (e.type != "down_proj") {
      e.kind = AdapterKind::dedicated;
      e.rank = 4;
      e.alpha = 8;
    }
  }
  ASSERT_EQ(p.cut_layer(), 3);
  gradcut_add_warmup(p, 5, 2, 3);
  for (const auto& e : p.entries) {
    if (e.layer < 3) {  // below the cut: a warm-up LoRA at the given rank and alpha
      EXPECT_EQ(e.kind, AdapterKind::dedicated) << e.module;
      EXPECT_EQ(e.rank, 2) << e.module;
      EXPECT_EQ(e.alpha, 3) << e.module;
      EXPECT_EQ(e.train_steps, 5) << e.module;
    } else {  // at or above it: untouched, pruned matrices stay without an adapter
      EXPECT_EQ(e.train_steps, 0) << e.module;
      const bool pruned = e.type == "down_proj" && e.layer != 4;
      EXPECT_EQ(e.kind == AdapterKind::none, pruned) << e.module;
    }
  }
  EXPECT_EQ(p.count(AdapterKind::dedicated), 3 * 3 + 6);
  EXPECT_EQ(p.warmup_steps(), 5);
  EXPECT_EQ(p.cut_layer(), 3);       // after the warm-up
  EXPECT_EQ(p.cut_layer_at(0), 0);   // during it the backward reaches layer 0
  EXPECT_EQ(p.cut_layer_at(4), 0);
  EXPECT_EQ(p.cut_layer_at(5), 3);

  // plan.json keeps the warm-up; a warm-up on a shared adapter is refused with the module named.
  const Plan q = Plan::from_json(p.to_json(), "round-trip");
  for (size_t i = 0; i < p.entries.size(); ++i) EXPECT_EQ(q.entries[i].train_steps, p.entries[i].train_steps);
  auto j = p.to_json();
  for (auto& m : j["matrices"])
    if (m["module"] == "model.layers.4.mlp.down_proj") m["train_steps"] = 3;
  const std::string e = test::error_of([&] { Plan::from_json(j, "bad.json"); });
  EXPECT_NE(e.find("bad.json"), std::string::npos) << e;
  EXPECT_NE(e.find("model.layers.4.mlp.down_proj"), std::string::npos) << e;

  // A plan without a cut (layer 0 adapted) gets no warm-up adapters, and neither does one without
  // survivors (nothing would train after the warm-up); a plan.json where every adapter stops is refused.
  Plan all = hand_plan();
  gradcut_add_warmup(all, 5, 2, 3);
  EXPECT_EQ(all.warmup_steps(), 0);
  Plan none = hand_plan();
  for (auto& e : none.entries) e.kind = AdapterKind::none;
  gradcut_add_warmup(none, 5, 2, 3);
  EXPECT_EQ(none.warmup_steps(), 0);
  auto only_warm = p.to_json();
  for (auto& m : only_warm["matrices"])
    if (m["assignment"] != "none") {
      m["assignment"] = "dedicated";
      m["train_steps"] = 5;
    }
  const std::string e2 = test::error_of([&] { Plan::from_json(only_warm, "warm.json"); });
  EXPECT_NE(e2.find("warm.json"), std::string::npos) << e2;
  EXPECT_NE(e2.find("at least one must train every step"), std::string::npos) << e2;
}
