// The per-token cost model against numbers worked out by hand from the formulas in
// cost_model.h, on a toy shape small enough to follow: h = 4, I = 8, q = 4, kv = 2, 2 layers,
// V = 10, seq_len 3 (T' = 2 keys on average), float32, half of the tokens are targets.
#include <gtest/gtest.h>

#include "edgetune/adapt/cost_model.h"
#include "edgetune/core/error.h"

using namespace et;

namespace {

CostShape toy() {
  CostShape s;
  s.hidden = 4;
  s.intermediate = 8;
  s.q_out = 4;
  s.kv_out = 2;
  s.num_layers = 2;
  s.vocab = 10;
  s.seq_len = 3;
  s.bytes_per_element = 4;
  s.target_fraction = 0.5;
  return s;
}

PlanEntry matrix(const std::string& type, int layer) {
  PlanEntry e;
  e.module = "model.layers." + std::to_string(layer) + "." + type;
  e.layer = layer;
  e.type = type;
  const bool attn = type == "q_proj" || type == "k_proj" || type == "v_proj" || type == "o_proj";
  e.in_features = type == "down_proj" ? 8 : 4;
  e.out_features = attn ? (type == "k_proj" || type == "v_proj" ? 2 : 4) : (type == "down_proj" ? 4 : 8);
  return e;
}

Plan toy_plan() {
  Plan p;
  p.num_layers = 2;
  for (int l = 0; l < 2; ++l)
    for (const char* t : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
      p.entries.push_back(matrix(t, l));
  return p;
}

// Hand-worked pieces (per token):
//   head backward      = 8h + f * 4Vh            = 32 + 80              = 112
//   head kept          = h (1 + f)               = 6 elements
//   layer bwd after down (stage 3)               = 0
//   after gate/up      = 2Ih + 10I               = 64 + 80              = 144
//   after o            = 144 + 2*2hI + 8h        = 144 + 128 + 32       = 304
//   after q/k/v        = 304 + 2qh + 8T'q + 3(q+kv) = 304 + 32 + 64 + 18 = 418
//   whole layer        = 418 + 2h(q+2kv) + 8h    = 418 + 64 + 32        = 514
//   kept after down 0, gate/up 3I = 24, o 24 + h = 28, q/k/v 28 + 4q = 44, whole layer 44 + h = 48
//   layer forward      = 2h(q+2kv) + 2qh + 6hI + 4T'q + 3(q+kv) + 6I + 2*4h
//                      = 64 + 32 + 192 + 32 + 18 + 48 + 32 = 418
//   head forward       = 4h + f * 2Vh = 16 + 40 = 56
constexpr double kHeadBwd = 112, kAfterGate = 144, kAfterO = 304, kAfterQ = 418, kLayerBwd = 514;
constexpr double kLayerFwd = 418, kHeadFwd = 56;

}  // namespace

TEST(CostModel, MatrixCostsByHand) {
  const CostShape s = toy();
  // down_proj at the top layer, dedicated rank 2 (in 8, out 4): adapter 2*2*12 = 48 forward,
  // 96 backward, keeps (8 + 2) * 4 bytes; forces only the head.
  MatrixCost c = matrix_cost(s, matrix("down_proj", 1), AdapterKind::dedicated, 2);
  EXPECT_DOUBLE_EQ(c.adapter_forward_flops, 48);
  EXPECT_DOUBLE_EQ(c.adapter_backward_flops, 96);
  EXPECT_DOUBLE_EQ(c.adapter_bytes, 40);
  EXPECT_DOUBLE_EQ(c.forced_flops, kHeadBwd);
  EXPECT_DOUBLE_EQ(c.forced_bytes, 6 * 4);
  // q_proj at layer 0, shared rank 2 (in 4, out 4): the vectors are folded into the factors once
  // per forward, so per token it costs a dedicated rank-2 adapter: 2*2*8 = 32 forward, 64 backward,
  // keeps (4 + 2) * 4 bytes; forces the head, layer 1 whole and layer 0 after q.
  c = matrix_cost(s, matrix("q_proj", 0), AdapterKind::shared, 2);
  EXPECT_DOUBLE_EQ(c.adapter_forward_flops, 32);
  EXPECT_DOUBLE_EQ(c.adapter_backward_flops, 64);
  EXPECT_DOUBLE_EQ(c.adapter_bytes, 24);
  EXPECT_DOUBLE_EQ(c.forced_flops, kHeadBwd + kLayerBwd + kAfterQ);
  EXPECT_DOUBLE_EQ(c.forced_bytes, (6 + 48 + 44) * 4);
  EXPECT_DOUBLE_EQ(matrix_cost(s, matrix("o_proj", 0), AdapterKind::dedicated, 1).forced_flops,
                   kHeadBwd + kLayerBwd + kAfterO);
  EXPECT_DOUBLE_EQ(matrix_cost(s, matrix("up_proj", 0), AdapterKind::dedicated, 1).forced_flops,
                   kHeadBwd + kLayerBwd + kAfterGate);
  EXPECT_DOUBLE_EQ(matrix_cost(s, matrix("gate_proj", 1), AdapterKind::dedicated, 1).forced_bytes, (6 + 24) * 4);
  EXPECT_DOUBLE_EQ(matrix_cost(s, matrix("o_proj", 1), AdapterKind::dedicated, 1).forced_bytes, (6 + 28) * 4);
}

TEST(CostModel, PlanTotalsByHand) {
  const CostShape s = toy();
  Plan p = toy_plan();
  // Nothing adapted: forward only, no backward, nothing kept.
  PlanCost none = plan_cost(p, s);
  EXPECT_DOUBLE_EQ(none.forward_flops, 2 * kLayerFwd + kHeadFwd);
  EXPECT_DOUBLE_EQ(none.backward_flops, 0);
  EXPECT_DOUBLE_EQ(none.activation_bytes, 0);
  // up_proj (in 4, out 8) of layer 1 dedicated at rank 1 and o_proj (4x4) of layer 1 at rank 2:
  // adapters forward 2*1*12 + 2*2*8 = 56, backward 112; kept (4+1)*4 + (4+2)*4 = 44 bytes. The
  // lowest matrix is layer 1's o_proj: forced 112 + 304 FLOPs, (6 + 28) * 4 bytes.
  for (auto& e : p.entries) {
    if (e.layer == 1 && e.type == "up_proj") {
      e.kind = AdapterKind::dedicated;
      e.rank = 1;
    }
    if (e.layer == 1 && e.type == "o_proj") {
      e.kind = AdapterKind::dedicated;
      e.rank = 2;
    }
  }
  PlanCost c = plan_cost(p, s);
  EXPECT_DOUBLE_EQ(c.forward_flops, 2 * kLayerFwd + kHeadFwd + 56);
  EXPECT_DOUBLE_EQ(c.backward_flops, 112 + kHeadBwd + kAfterO);
  EXPECT_DOUBLE_EQ(c.activation_bytes, 44 + (6 + 28) * 4);
  // The cut is layer 1: with the cut-layer cache, layer 0's forward no longer runs.
  EXPECT_DOUBLE_EQ(c.forward_flops_cut_cache, kLayerFwd + kHeadFwd + 56);
}

TEST(CostModel, GradCutCostsDepthAndFlops) {
  const CostShape s = toy();
  Plan p = toy_plan();
  p.shared.push_back({"q_proj", 2, 4, 4, 4});
  for (auto& e : p.entries) {
    if (e.type != "q_proj") continue;
    e.kind = AdapterKind::shared;
    e.rank = 2;
  }
  auto depth = gradcut_costs(p, s, "depth", 0);
  for (size_t i = 0; i < p.entries.size(); ++i) EXPECT_EQ(depth[i], 2 - p.entries[i].layer) << p.entries[i].module;

  // flops: every entry costed in its phase-1 form: q_proj shared rank 2, the others (no shared
  // spec) dedicated rank 1. C_m = (adapter FLOPs + [forced - sunk]+) / F + (adapter bytes +
  // [forced bytes - sunk bytes]+) / M, the sunk part being what a down_proj of the floor layer forces.
  Plan every = p;
  for (auto& e : every.entries)
    if (e.kind == AdapterKind::none) {
      e.kind = AdapterKind::dedicated;
      e.rank = 1;
    }
  const PlanCost ref = plan_cost(every, s);
  const double F = ref.forward_flops + ref.backward_flops, M = ref.activation_bytes;
  // Adapter backward: q shared 2 x 4*2*8 = 128, k and v 4 x 4*1*6 = 96, o 2 x 4*8 = 64,
  // gate and up 4 x 4*12 = 192, down 2 x 4*12 = 96: 576. The lowest matrix is layer 0's q_proj:
  // forced 112 + 514 + 418 = 1044.
  EXPECT_DOUBLE_EQ(ref.backward_flops, 576 + 1044);
  const PlanEntry& q0 = p.entries[0];
  ASSERT_EQ(q0.type, "q_proj");
  ASSERT_EQ(q0.layer, 0);
  // Floor 0: the sunk part is layer 1 whole plus the head (a down_proj of layer 0 forces that):
  // q0 saves only its own layer's part, 418 FLOPs and 44 elements.
  auto flops = gradcut_costs(p, s, "flops", 0);
  EXPECT_NEAR(flops[0], (32 + 64 + kAfterQ) / F + (24 + 44 * 4) / M, 1e-12);
  // Floor 1: sunk is only the head; q0 forces layer 1 whole and its own part.
  auto flops1 = gradcut_costs(p, s, "flops", 1);
  EXPECT_NEAR(flops1[0], (32 + 64 + kLayerBwd + kAfterQ) / F + (24 + (48 + 44) * 4) / M, 1e-12);
  // ... and layer 1's down_proj (in 8, out 4, dedicated rank 1: 24 + 48 FLOPs, 9 elements) nothing.
  EXPECT_NEAR(flops1[13], (24 + 48) / F + 9 * 4 / M, 1e-12);
  EXPECT_THROW(gradcut_costs(p, s, "flops", 2), Error);
  // Below the floor the cost falls with height.
  for (size_t i = 0; i < 7; ++i) EXPECT_GT(flops1[i], flops1[i + 7]) << p.entries[i].module;
  EXPECT_THROW(gradcut_costs(p, s, "latency", 0), Error);
}

TEST(CostModel, SlidingWindowLayersCostLess) {
  // Layer 0 slides with a window of 2 tokens over rows of 3: a query sees (1 + 2 + 2) / 3 = 5/3
  // keys instead of 2. Its attention: forward 4 * 5/3 * q = 80/3 (not 32), backward 160/3 (not 64).
  CostShape s = toy();
  s.layer_window = {2, 0};
  const double after_q0 = kAfterQ - 64 + 160.0 / 3;
  EXPECT_NEAR(matrix_cost(s, matrix("q_proj", 0), AdapterKind::dedicated, 1).forced_flops,
              kHeadBwd + kLayerBwd + after_q0, 1e-9);
  // Layer 1 is a full-attention layer: what it forces is unchanged.
  EXPECT_DOUBLE_EQ(matrix_cost(s, matrix("q_proj", 1), AdapterKind::dedicated, 1).forced_flops, kHeadBwd + kAfterQ);
  // A window of the row's length or more does not bite.
  CostShape wide = toy();
  wide.layer_window = {3, 8};
  EXPECT_DOUBLE_EQ(plan_cost(toy_plan(), wide).forward_flops, 2 * kLayerFwd + kHeadFwd);
  EXPECT_NEAR(plan_cost(toy_plan(), s).forward_flops, kLayerFwd - 32 + 80.0 / 3 + kLayerFwd + kHeadFwd, 1e-9);

  // From a config: Gemma 3 style, every second layer sliding.
  model::ModelConfig c;
  c.hidden_size = 4;
  c.intermediate_size = 8;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 2;
  c.num_layers = 2;
  c.vocab_size = 10;
  c.sliding_window = 2;
  c.layer_types = {model::LayerType::sliding_attention, model::LayerType::full_attention};
  CostShape from = cost_shape(c, 3, 4, 0.5);
  EXPECT_EQ(from.layer_window, (std::vector<int64_t>{2, 0}));
  EXPECT_EQ(from.q_out, 4);
  EXPECT_EQ(from.kv_out, 2);
}
