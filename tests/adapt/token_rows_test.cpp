// Trainable token rows (adapters.h): fresh rows (copies of the base's) leave the model exactly
// unchanged; trained rows replace the embedding's rows of their tokens and, through the tied head,
// those tokens' logits (h . row), and nothing else; the gradient reaching the rows through both
// uses agrees with a central finite difference; an untied model is refused.
#include <gtest/gtest.h>

#include "edgetune/adapt/adapters.h"
#include "edgetune/adapt/plan.h"
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/model/forward.h"
#include "edgetune/model/model.h"
#include "test_util.h"

using namespace et;

namespace {

std::string token_rows_golden(const std::string& family) {
  return path_join(path_join(test::source_dir(), "tests/golden"), family);
}

Plan plan_with_token_rows(const model::Model& m, std::vector<int64_t> ids) {
  Plan p = plan_all(m, AdapterOptions{});
  p.token_ids = std::move(ids);
  p.token_width = m.config.hidden_size;
  p.token_module = m.prefix + "embed_tokens";
  return p;
}

const std::vector<int64_t> kTokenRowsIds = {3, 17, 3, 40, 17, 9, 5, 3};

}  // namespace

TEST(TokenRows, FreshRowsLeaveTheModelUnchanged) {
  model::Model m = model::load_model(token_rows_golden("qwen2"));
  ASSERT_TRUE(m.tied_head);
  torch::NoGradGuard g;
  const torch::Tensor ids = torch::tensor(kTokenRowsIds).view({1, -1});
  const torch::Tensor before = model::forward(m, ids);
  AdapterSet a = create_adapters(plan_with_token_rows(m, {3, 17}), 1, torch::kCPU);
  init_token_rows(a, m);
  attach_adapters(m, a);
  EXPECT_TRUE(torch::equal(model::forward(m, ids), before));
  EXPECT_EQ(a.plan.trainable_parameters(), plan_all(m, AdapterOptions{}).trainable_parameters() + 2 * m.config.hidden_size);
}

TEST(TokenRows, TrainedRowsReplaceTheirTokensInTheEmbeddingAndTheTiedHead) {
  model::Model m = model::load_model(token_rows_golden("qwen2"));
  torch::NoGradGuard g;
  const torch::Tensor ids = torch::tensor(kTokenRowsIds).view({1, -1});
  const torch::Tensor base_embed = model::embed(m, ids);
  AdapterSet a = create_adapters(plan_with_token_rows(m, {3, 17}), 1, torch::kCPU);
  a.token_rows.copy_(torch::randn(a.token_rows.sizes()));
  attach_adapters(m, a);
  const torch::Tensor x = model::embed(m, ids)[0];
  for (size_t t = 0; t < kTokenRowsIds.size(); ++t) {
    const int64_t id = kTokenRowsIds[t];
    const torch::Tensor want = id == 3 ? a.token_rows[0] : id == 17 ? a.token_rows[1] : base_embed[0][static_cast<int64_t>(t)];
    EXPECT_TRUE(torch::equal(x[static_cast<int64_t>(t)], want)) << "position " << t << " token " << id;
  }
  const torch::Tensor h = torch::randn({4, m.config.hidden_size});
  const torch::Tensor logits = model::lm_head_logits(m, h);
  EXPECT_LT((logits.select(1, 3) - h.matmul(a.token_rows[0])).abs().max().item<double>(), 1e-5);
  EXPECT_LT((logits.select(1, 17) - h.matmul(a.token_rows[1])).abs().max().item<double>(), 1e-5);
  torch::Tensor others = torch::ones({m.config.vocab_size}, torch::kBool);
  others[3] = false;
  others[17] = false;
  EXPECT_TRUE(torch::equal(logits.index({torch::indexing::Slice(), others}),
                           at::linear(h, m.lm_head).index({torch::indexing::Slice(), others})));
}

TEST(TokenRows, GradientMatchesFiniteDifferences) {
  model::Model m = model::load_model(token_rows_golden("qwen2"));
  AdapterSet a = create_adapters(plan_with_token_rows(m, {3, 17}), 1, torch::kCPU);
  init_token_rows(a, m);
  attach_adapters(m, a);
  const torch::Tensor ids = torch::tensor(kTokenRowsIds).view({1, -1});
  const torch::Tensor w = torch::randn({1, static_cast<int64_t>(kTokenRowsIds.size()), m.config.vocab_size});
  auto loss = [&] { return (model::forward(m, ids) * w).sum(); };
  a.token_rows.mutable_grad() = torch::Tensor();
  loss().backward();
  const torch::Tensor grad = a.token_rows.grad().clone();
  ASSERT_GT(grad.abs().sum().item<double>(), 0);
  const torch::Tensor dir = torch::randn(a.token_rows.sizes());
  const double eps = 1e-3;
  torch::NoGradGuard g;
  const torch::Tensor start = a.token_rows.clone();
  a.token_rows.copy_(start + eps * dir);
  const double up = loss().item<double>();
  a.token_rows.copy_(start - eps * dir);
  const double down = loss().item<double>();
  a.token_rows.copy_(start);
  const double fd = (up - down) / (2 * eps), analytic = (grad * dir).sum().item<double>();
  EXPECT_NEAR(fd, analytic, 2e-2 * std::max(1.0, std::abs(analytic))) << "fd " << fd << " autograd " << analytic;
}

TEST(TokenRows, AnUntiedHeadIsRefused) {
  model::Model m = model::load_model(token_rows_golden("llama"));
  ASSERT_FALSE(m.tied_head);
  AdapterSet a = create_adapters(plan_with_token_rows(m, {3}), 1, torch::kCPU);
  try {
    attach_adapters(m, a);
    FAIL() << "an untied head took token rows";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tied"), std::string::npos) << e.what();
  }
}

TEST(TokenRows, PlanJsonKeepsThem) {
  model::Model m = model::load_model(token_rows_golden("qwen2"));
  Plan p = plan_with_token_rows(m, {17, 3});
  Plan q = Plan::from_json(p.to_json(), "test");
  EXPECT_EQ(q.token_ids, p.token_ids);
  EXPECT_EQ(q.token_width, p.token_width);
  EXPECT_EQ(q.token_module, p.token_module);
  EXPECT_EQ(q.cut_layer(), 0);
  nlohmann::json bad = p.to_json();
  bad["trainable_tokens"]["ids"] = {3, 3};
  EXPECT_THROW(Plan::from_json(bad, "test"), Error);
}
