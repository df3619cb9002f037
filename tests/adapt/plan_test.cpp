// Adapter plans: which matrices the all / list policies adapt, the trainable parameter count
// against the formula written out by hand (dedicated r*(in+out); a shared type r*(in+out) once
// plus r + out per matrix using it) and against the tensors create_adapters actually makes, the
// cut layer, and plan.json round trips and errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "edgetune/adapt/adapters.h"
#include "edgetune/adapt/plan.h"
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/model/model.h"
#include "mixed_plan.h"
#include "test_util.h"

using namespace et;
using et::test::error_of;
using et::test::golden;

namespace {

// The golden Llama's config with more layers, randomly initialized (layers 1, 10, 11 exist, so
// "layers.1.*" can be told apart from "layers.1x").
model::Model twelve_layer_llama() {
  auto cfg = nlohmann::json::parse(read_text_file(path_join(golden("llama"), "config.json")));
  cfg["num_hidden_layers"] = 12;
  const std::string dir = test::temp_dir("plan-12");
  write_file_atomic(path_join(dir, "config.json"), cfg.dump());
  model::LoadOptions o;
  o.init_random = true;
  return model::load_model(dir, o);
}

// The golden Llama: hidden 32, 4 heads of 8 (q out 32), 2 KV heads (k/v out 16), MLP 64, 3 layers.
struct Shapes {
  int64_t H = 32, Q = 32, KV = 16, I = 64;
};

}  // namespace

TEST(Plan, AllAdaptsEveryTargetWithTheFormulaCount) {
  model::Model m = model::load_model(golden("llama"));
  AdapterOptions o;
  o.rank = 4;
  o.alpha = 8;
  Plan p = plan_all(m, o);
  ASSERT_EQ(p.entries.size(), 3u * 7u);
  EXPECT_EQ(p.count(AdapterKind::dedicated), 21);
  EXPECT_EQ(p.cut_layer(), 0);
  // By hand, per layer: q r(H+Q), k r(H+KV), v r(H+KV), o r(Q+H), gate r(H+I), up r(H+I), down r(I+H).
  Shapes s;
  const int64_t per_layer = 4 * ((s.H + s.Q) + 2 * (s.H + s.KV) + (s.Q + s.H) + 3 * (s.H + s.I));
  EXPECT_EQ(per_layer, 4 * (64 + 96 + 64 + 288));
  EXPECT_EQ(p.trainable_parameters(), 3 * per_layer);
  AdapterSet a = create_adapters(p, 1, torch::kCPU);
  EXPECT_EQ(a.parameter_count(), 3 * per_layer);
  EXPECT_EQ(a.named_parameters().size(), 42u);
  EXPECT_DOUBLE_EQ(p.scale(4, 8), 2.0);
  p.rslora = true;
  EXPECT_DOUBLE_EQ(p.scale(4, 8), 4.0);
}

TEST(Plan, TargetsRestrictTheMatrices) {
  model::Model m = model::load_model(golden("llama"));
  AdapterOptions o;
  o.rank = 2;
  o.targets = {"q_proj", "v_proj"};
  Plan p = plan_all(m, o);
  ASSERT_EQ(p.entries.size(), 6u);
  for (const auto& e : p.entries) EXPECT_TRUE(e.type == "q_proj" || e.type == "v_proj") << e.module;
  Shapes s;
  EXPECT_EQ(p.trainable_parameters(), 3 * 2 * ((s.H + s.Q) + (s.H + s.KV)));
}

TEST(Plan, ListAdaptsExactlyTheNamedMatrices) {
  model::Model m = twelve_layer_llama();
  AdapterOptions o;
  o.policy = "list";
  o.rank = 3;
  o.alpha = 6;
  o.list = {"layers.1.*", "model.layers.4.mlp.up_proj", "layers.7.self_attn.k_proj"};
  Plan p = plan_list(m, o);
  std::set<std::string> want;
  for (const char* t : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"})
    want.insert(std::string("model.layers.1.") + t);
  want.insert("model.layers.4.mlp.up_proj");
  want.insert("model.layers.7.self_attn.k_proj");
  std::set<std::string> got;
  Shapes s;
  int64_t expect = 0;
  for (const auto& e : p.entries) {
    if (e.kind == AdapterKind::none) continue;
    EXPECT_EQ(e.kind, AdapterKind::dedicated);
    EXPECT_EQ(e.rank, 3);
    EXPECT_EQ(e.alpha, 6);
    got.insert(e.module);
  }
  EXPECT_EQ(got, want);
  // Layer 1: 3 * (sum of in+out over the seven) ; up: 3 * (H + I) ; k: 3 * (H + KV).
  expect = 3 * ((s.H + s.Q) + 2 * (s.H + s.KV) + (s.Q + s.H) + 3 * (s.H + s.I)) + 3 * (s.H + s.I) + 3 * (s.H + s.KV);
  EXPECT_EQ(p.trainable_parameters(), expect);
  EXPECT_EQ(create_adapters(p, 0, torch::kCPU).parameter_count(), expect);
  EXPECT_EQ(p.cut_layer(), 1);
  EXPECT_EQ(p.count(AdapterKind::none), 12 * 7 - 9);

  // A bare type matches it in every layer.
  o.list = {"down_proj"};
  Plan d = plan_list(m, o);
  EXPECT_EQ(d.count(AdapterKind::dedicated), 12);
  for (const auto& e : d.entries) EXPECT_EQ(e.kind == AdapterKind::dedicated, e.type == "down_proj") << e.module;

  // A name that matches nothing is an error naming it.
  o.list = {"layers.3.self_attn.q_prj"};
  const std::string e = error_of([&] { plan_list(m, o); });
  EXPECT_NE(e.find("layers.3.self_attn.q_prj"), std::string::npos) << e;
}

TEST(Plan, NothingAdaptedCutsAtTheTop) {
  model::Model m = model::load_model(golden("llama"));
  Plan p = empty_plan(m, AdapterOptions{});
  EXPECT_EQ(p.cut_layer(), 3);
  EXPECT_EQ(p.trainable_parameters(), 0);
  EXPECT_EQ(create_adapters(p, 0, torch::kCPU).parameter_count(), 0);
}

namespace {

// A plan mixing everything: the shared test plan (rank 2 and rank 5 dedicated, q and up shared
// with rank 3 / rank 6, none), with down_proj adapted only in layer 2.
Plan mixed_plan_one_down_proj(const model::Model& m) {
  Plan p = test::mixed_plan(m);
  const Plan none = empty_plan(m, AdapterOptions{});
  for (size_t i = 0; i < p.entries.size(); ++i)
    if (p.entries[i].type == "down_proj" && p.entries[i].layer != 2) p.entries[i] = none.entries[i];
  return p;
}

}  // namespace

TEST(Plan, MixedPlanCountsByHand) {
  model::Model m = model::load_model(golden("llama"));
  Plan p = mixed_plan_one_down_proj(m);
  Shapes s;
  // dedicated: k (3 layers) rank 2: 3 * 2 * (H + KV); down layer 2 rank 2: 2 * (I + H);
  //            v layers 1, 2 rank 5: 2 * 5 * (H + KV)
  // shared q rank 3: 3 * (H + Q) once + 3 matrices * (3 + Q)
  // shared up rank 6: 6 * (H + I) once + 3 matrices * (6 + I)
  const int64_t want = 3 * 2 * (s.H + s.KV) + 2 * (s.I + s.H) + 2 * 5 * (s.H + s.KV) + 3 * (s.H + s.Q) +
                       3 * (3 + s.Q) + 6 * (s.H + s.I) + 3 * (6 + s.I);
  EXPECT_EQ(want, 288 + 192 + 480 + 192 + 105 + 576 + 210);
  EXPECT_EQ(p.trainable_parameters(), want);
  AdapterSet a = create_adapters(p, 3, torch::kCPU);
  EXPECT_EQ(a.parameter_count(), want);
  // The tensors themselves, by name and shape.
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& kv : a.named_parameters())
    shapes[kv.first] = std::vector<int64_t>(kv.second.sizes().begin(), kv.second.sizes().end());
  EXPECT_EQ(shapes.at("shared.q_proj.lora_A"), (std::vector<int64_t>{3, s.H}));
  EXPECT_EQ(shapes.at("shared.q_proj.lora_B"), (std::vector<int64_t>{s.Q, 3}));
  EXPECT_EQ(shapes.at("shared.up_proj.lora_A"), (std::vector<int64_t>{6, s.H}));
  EXPECT_EQ(shapes.at("model.layers.1.self_attn.q_proj.shared_a"), (std::vector<int64_t>{3}));
  EXPECT_EQ(shapes.at("model.layers.1.self_attn.q_proj.shared_b"), (std::vector<int64_t>{s.Q}));
  EXPECT_EQ(shapes.at("model.layers.2.mlp.down_proj.lora_A"), (std::vector<int64_t>{2, s.I}));
  EXPECT_EQ(shapes.at("model.layers.2.self_attn.v_proj.lora_B"), (std::vector<int64_t>{s.KV, 5}));
  EXPECT_FALSE(shapes.count("model.layers.0.self_attn.v_proj.lora_A"));
  EXPECT_FALSE(shapes.count("model.layers.0.mlp.down_proj.lora_A"));
  EXPECT_EQ(shapes.size(), 4u + 6u * 2u + (3u + 1u + 2u) * 2u);
  EXPECT_EQ(p.cut_layer(), 0);
}

TEST(Plan, JsonRoundTrip) {
  model::Model m = model::load_model(golden("llama"));
  Plan p = mixed_plan_one_down_proj(m);
  p.rslora = true;
  p.dropout = 0.1;
  p.entries[4].importance = 0.25;
  p.entries[4].cost = 3;
  p.entries[4].score = -0.5;
  p.extra = {{"note", "x"}};
  const std::string path = path_join(test::temp_dir("plan-json"), "plan.json");
  save_plan(p, path);
  Plan q = load_plan(path);
  EXPECT_EQ(q.to_json(), p.to_json());
  EXPECT_EQ(q.policy, "gradcut");
  EXPECT_TRUE(q.rslora);
  EXPECT_DOUBLE_EQ(q.dropout, 0.1);
  ASSERT_EQ(q.entries.size(), p.entries.size());
  for (size_t i = 0; i < p.entries.size(); ++i) {
    EXPECT_EQ(q.entries[i].module, p.entries[i].module);
    EXPECT_EQ(q.entries[i].kind, p.entries[i].kind);
    EXPECT_EQ(q.entries[i].rank, p.entries[i].rank);
    EXPECT_EQ(q.entries[i].alpha, p.entries[i].alpha);
  }
  EXPECT_DOUBLE_EQ(q.entries[4].score, -0.5);
  EXPECT_EQ(q.trainable_parameters(), p.trainable_parameters());
  auto j = nlohmann::json::parse(read_text_file(path));
  EXPECT_EQ(j["trainable_parameters"].get<int64_t>(), p.trainable_parameters());
  EXPECT_EQ(j["cut_layer"].get<int>(), 0);
}

TEST(Plan, BadPlanFilesNameFileAndMatrix) {
  model::Model m = model::load_model(golden("llama"));
  const std::string dir = test::temp_dir("plan-bad");
  nlohmann::json good = mixed_plan_one_down_proj(m).to_json();
  struct Case {
    std::string name, want;
    std::function<void(nlohmann::json&)> edit;
  };
  std::vector<Case> cases = {
      {"assignment", "model.layers.0.self_attn.k_proj",
       [](nlohmann::json& j) { j["matrices"][1]["assignment"] = "dedicate"; }},
      {"rank", "model.layers.0.self_attn.k_proj", [](nlohmann::json& j) { j["matrices"][1]["rank"] = 0; }},
      {"no-shared", "up_proj", [](nlohmann::json& j) { j["shared"].erase(1); }},
      {"shared-rank", "model.layers.1.self_attn.q_proj", [](nlohmann::json& j) { j["matrices"][7]["rank"] = 4; }},
      {"format", "format", [](nlohmann::json& j) { j["format"] = "other"; }},
      {"missing-key", "malformed", [](nlohmann::json& j) { j.erase("matrices"); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    nlohmann::json j = good;
    c.edit(j);
    const std::string path = path_join(dir, c.name + ".json");
    write_file_atomic(path, j.dump());
    const std::string e = error_of([&] { load_plan(path); });
    EXPECT_NE(e.find(path), std::string::npos) << e;
    EXPECT_NE(e.find(c.want), std::string::npos) << e;
  }
  const std::string path = path_join(dir, "broken.json");
  write_file_atomic(path, "{\"format\": ");
  const std::string e = error_of([&] { load_plan(path); });
  EXPECT_NE(e.find(path), std::string::npos) << e;
}
