// Generation: cached decoding equals recomputing the whole prefix at every step (logits and
// greedy argmax), including Gemma's sliding window once the sequence is longer than the window;
// sampling follows its documented distribution and a seed fixes the tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "edgetune/core/error.h"
#include "edgetune/model/forward.h"
#include "edgetune/model/generate.h"
#include "edgetune/model/sampler.h"
#include "model_test_util.h"

using namespace et::model;
using namespace et::test;

namespace {

torch::Tensor row(const std::vector<int64_t>& ids) { return torch::tensor(ids).view({1, -1}); }

// Steps a KV cache token by token and compares each step's logits and argmax with a full
// forward over the whole prefix.
void check_cache_matches_full(const Model& m, std::vector<int64_t> ids, int steps) {
  torch::NoGradGuard ng;
  KVCache cache = make_kv_cache(m, 4);  // small, so the buffers must grow
  ForwardInputs in;
  in.cache = &cache;
  torch::Tensor cached = forward(m, row(ids), in).select(1, -1);
  for (int s = 0; s < steps; ++s) {
    torch::Tensor full = forward(m, row(ids)).select(1, -1);
    ASSERT_LT(max_abs_diff(cached, full), 1e-4) << "step " << s;
    const int64_t next = full.argmax(-1).item<int64_t>();
    ASSERT_EQ(cached.argmax(-1).item<int64_t>(), next) << "step " << s;
    ids.push_back(next);
    cached = forward(m, row({next}), in).select(1, -1);
  }
  EXPECT_EQ(kv_cache_length(cache, 0), static_cast<int64_t>(ids.size()));
}

}  // namespace

TEST(Generation, KvCacheEqualsFullForwardStories) {
  ET_REQUIRE_SHARED(dir, "models/stories260K");
  Model m = load_model(dir);
  check_cache_matches_full(m, {1}, 40);
}

TEST(Generation, KvCacheEqualsFullForwardGoldens) {
  for (const auto& fam : golden_families()) {
    SCOPED_TRACE(fam);
    Model m = load_model(golden_dir(fam));
    auto ids = read_golden(fam, "input_ids")[0].slice(0, 0, 5);
    // 5 prompt tokens + 20 steps crosses Gemma's sliding window of 6.
    check_cache_matches_full(m, std::vector<int64_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + 5), 20);
  }
}

TEST(Generation, GreedyGenerateEqualsArgmaxLoop) {
  Model m = load_model(golden_dir("gemma3"));
  std::vector<int64_t> prompt = {1, 17, 33};
  GenerateOptions o;
  o.max_new_tokens = 16;
  auto got = generate(m, prompt, o);
  std::vector<int64_t> ids = prompt, want;
  torch::NoGradGuard ng;
  for (int i = 0; i < 16; ++i) {
    const int64_t next = forward(m, row(ids))[0][-1].argmax().item<int64_t>();
    want.push_back(next);
    ids.push_back(next);
  }
  EXPECT_EQ(got, want);
}

TEST(Generation, StopsAtStopIdAndCallback) {
  Model m = load_model(golden_dir("llama"));
  GenerateOptions o;
  o.max_new_tokens = 10;
  auto all = generate(m, {1, 5}, o);
  ASSERT_EQ(all.size(), 10u);
  o.stop_ids = {all[3]};
  auto stopped = generate(m, {1, 5}, o);
  // Stops before the first occurrence of the stop id, which is not returned.
  size_t first = std::find(all.begin(), all.end(), all[3]) - all.begin();
  EXPECT_EQ(stopped, std::vector<int64_t>(all.begin(), all.begin() + static_cast<long>(first)));
  o.stop_ids.clear();
  int calls = 0;
  auto cut = generate(m, {1, 5}, o, [&](int64_t) { return ++calls < 4; });
  EXPECT_EQ(cut, std::vector<int64_t>(all.begin(), all.begin() + 4));
  EXPECT_THROW(generate(m, {}, o), et::Error);
}

// The mask hook restricts each choice (here to the even ids, then to one id at step 3), and each
// step's log-probability is the log-softmax of the masked full-forward logits at that position.
TEST(Generation, MaskedStepsAndTheirLogProbabilities) {
  Model m = load_model(golden_dir("llama"));
  const std::vector<int64_t> prompt = {1, 5, 9};
  GenerateOptions o;
  o.max_new_tokens = 8;
  const int64_t forced = 7;
  o.mask_logits = [&](int64_t step, std::vector<float>& logits) {
    for (size_t i = 0; i < logits.size(); ++i)
      if (step == 3 ? static_cast<int64_t>(i) != forced : i % 2 == 1) logits[i] = -INFINITY;
  };
  std::vector<TokenStep> steps;
  auto got = generate_steps(m, prompt, o, [&](const TokenStep& s) {
    steps.push_back(s);
    return true;
  });
  ASSERT_EQ(got.size(), 8u);
  ASSERT_EQ(steps.size(), 8u);
  torch::NoGradGuard ng;
  std::vector<int64_t> ids = prompt;
  for (size_t i = 0; i < got.size(); ++i) {
    torch::Tensor logits = forward(m, row(ids))[0][-1].to(torch::kFloat64);
    torch::Tensor keep = torch::zeros_like(logits, torch::kBool);
    if (i == 3) keep[forced] = true;
    else keep.index_put_({torch::arange(0, logits.size(0), 2)}, true);
    logits = logits.masked_fill(keep.logical_not(), -INFINITY);
    const int64_t want = logits.argmax().item<int64_t>();
    EXPECT_EQ(got[i], want) << "step " << i;
    EXPECT_EQ(steps[i].id, got[i]);
    EXPECT_NEAR(steps[i].logprob, torch::log_softmax(logits, 0)[want].item<double>(), 1e-4) << "step " << i;
    if (i == 3) {
      EXPECT_EQ(got[i], forced);
      EXPECT_NEAR(steps[i].logprob, 0.0, 1e-9);  // the only choice is certain
    }
    ids.push_back(got[i]);
  }
  // Without a mask, generate and generate_steps agree.
  o.mask_logits = nullptr;
  std::vector<int64_t> seen;
  EXPECT_EQ(generate_steps(m, prompt, o, [&](const TokenStep& s) {
              seen.push_back(s.id);
              return true;
            }),
            generate(m, prompt, o));
  EXPECT_EQ(seen, generate(m, prompt, o));
}

TEST(Sampler, DistributionFollowsTemperatureTopKTopP) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 0.0f, 2.0f};
  SamplingOptions o;
  o.temperature = 0.5;
  auto p = sampling_distribution(logits, o);
  double z = 0;
  for (float l : logits) z += std::exp(l / 0.5);
  for (size_t i = 0; i < logits.size(); ++i) EXPECT_NEAR(p[i], std::exp(logits[i] / 0.5) / z, 1e-12);

  o.temperature = 1.0;
  o.top_k = 2;  // keeps 3.0 and both tied 2.0 values (ties with the k-th are kept)
  p = sampling_distribution(logits, o);
  EXPECT_EQ(p[0], 0);
  EXPECT_EQ(p[3], 0);
  const double zk = std::exp(3.0) + 2 * std::exp(2.0);
  EXPECT_NEAR(p[1], std::exp(3.0) / zk, 1e-12);
  EXPECT_NEAR(p[2], std::exp(2.0) / zk, 1e-12);

  o.top_k = 0;
  o.top_p = 0.5;  // the top token alone has 0.4 < 0.5, so the smallest set reaching 0.5 adds one more
  std::vector<float> l2 = {std::log(0.4f), std::log(0.3f), std::log(0.2f), std::log(0.1f)};
  p = sampling_distribution(l2, o);
  EXPECT_NEAR(p[0], 0.4 / 0.7, 1e-6);
  EXPECT_NEAR(p[1], 0.3 / 0.7, 1e-6);
  EXPECT_EQ(p[2], 0);
  EXPECT_EQ(p[3], 0);
  o.top_p = 0.05;  // the most likely token always stays
  p = sampling_distribution(l2, o);
  EXPECT_NEAR(p[0], 1.0, 1e-12);
}

TEST(Sampler, DrawsMatchTheDistributionAndSeedsRepeat) {
  const std::vector<float> logits = {0.5f, 1.5f, -0.5f, 1.0f};
  SamplingOptions o;
  o.temperature = 0.8;
  o.seed = 42;
  const auto p = sampling_distribution(logits, o);
  Sampler s(o);
  std::map<int64_t, int> counts;
  const int n = 40000;
  std::vector<int64_t> first;
  for (int i = 0; i < n; ++i) {
    int64_t t = s.next(logits);
    counts[t]++;
    if (i < 50) first.push_back(t);
  }
  for (size_t i = 0; i < p.size(); ++i) {
    // 5 standard deviations of a binomial proportion.
    const double sd = std::sqrt(p[i] * (1 - p[i]) / n);
    EXPECT_NEAR(counts[static_cast<int64_t>(i)] / double(n), p[i], 5 * sd) << i;
  }
  Sampler again(o);
  for (int64_t t : first) EXPECT_EQ(again.next(logits), t);
  o.seed = 43;
  Sampler other(o);
  int same = 0;
  for (int64_t t : first) same += other.next(logits) == t;
  EXPECT_LT(same, 50);
}

TEST(Sampler, GreedyIsFirstArgmaxAndBadOptionsThrow) {
  EXPECT_EQ(argmax_first({1.0f, 5.0f, 5.0f, 2.0f}), 1);
  Sampler g(SamplingOptions{});
  EXPECT_EQ(g.next(torch::tensor({0.1f, -2.0f, 0.7f})), 2);
  SamplingOptions bad;
  bad.top_p = 0;
  EXPECT_THROW(Sampler{bad}, et::Error);
  bad = {};
  bad.temperature = -1;
  EXPECT_THROW(Sampler{bad}, et::Error);
  bad = {};
  bad.top_k = -3;
  EXPECT_THROW(Sampler{bad}, et::Error);
}

TEST(Generation, SameSeedSameTokensOnTheModel) {
  Model m = load_model(golden_dir("qwen3"));
  GenerateOptions o;
  o.max_new_tokens = 24;
  o.sampling.temperature = 1.0;
  o.sampling.top_p = 0.9;
  o.sampling.top_k = 50;
  o.sampling.seed = 7;
  auto a = generate(m, {1, 9}, o), b = generate(m, {1, 9}, o);
  EXPECT_EQ(a, b);
  o.sampling.seed = 8;
  EXPECT_NE(generate(m, {1, 9}, o), a);
}
