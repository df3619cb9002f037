// The real model ../shared/models/stories260K against reference_outputs.json, which an
// independent float64 llama2.c-format implementation wrote: greedy ids from BOS, the first logits
// after BOS, the top-1 log-probability, and the teacher-forced mean NLL of a sentence.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "edgetune/model/config.h"
#include "edgetune/model/forward.h"
#include "edgetune/model/generate.h"
#include "model_test_util.h"

using namespace et::model;

namespace {

nlohmann::json reference(const std::string& dir) {
  return nlohmann::json::parse(et::read_text_file(et::path_join(dir, "reference_outputs.json")));
}

}  // namespace

TEST(Stories260K, GreedyFromBosReproducesReferenceIds) {
  ET_REQUIRE_SHARED(dir, "models/stories260K");
  auto ref = reference(dir);
  const auto want = ref["greedy_ids_from_bos"].get<std::vector<int64_t>>();
  ASSERT_EQ(want.size(), 64u);
  Model m = load_model(dir);
  GenerateOptions o;
  o.max_new_tokens = 64;
  o.stop_ids = stop_token_ids(dir, m.config);
  std::vector<int64_t> got = generate(m, {m.config.bos_token_id}, o);
  EXPECT_EQ(got, want);
}

TEST(Stories260K, FirstLogitsAfterBos) {
  ET_REQUIRE_SHARED(dir, "models/stories260K");
  auto ref = reference(dir);
  const auto want = ref["logits_pos0_after_bos_first8"].get<std::vector<double>>();
  Model m = load_model(dir);
  torch::NoGradGuard ng;
  torch::Tensor logits = forward(m, torch::tensor({int64_t{1}}).view({1, 1}))[0][0];
  // The reference prints 5 decimals (+-5e-6); fp32 accumulation adds a few 1e-6.
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(logits[static_cast<int64_t>(i)].item<double>(), want[i], 2e-5) << i;
  const auto top = ref["logprob_pos0_top1"];
  torch::Tensor lp = torch::log_softmax(logits, -1);
  EXPECT_EQ(lp.argmax().item<int64_t>(), top[0].get<int64_t>());
  EXPECT_NEAR(lp.max().item<double>(), top[1].get<double>(), 2e-5);
}

TEST(Stories260K, TeacherForcedMeanNll) {
  ET_REQUIRE_SHARED(dir, "models/stories260K");
  auto ref = reference(dir);
  // SentencePiece (spm_encode with tokenizer.model) encodes teacher_forced_sentence as exactly
  // the first 31 greedy ids; the reference NLL is over those 31 predictions after BOS.
  const std::string sentence = ref["teacher_forced_sentence"];
  ASSERT_EQ(ref["greedy_text"].get<std::string>().rfind(sentence, 0), 0u);
  auto greedy = ref["greedy_ids_from_bos"].get<std::vector<int64_t>>();
  std::vector<int64_t> ids = {1};
  ids.insert(ids.end(), greedy.begin(), greedy.begin() + 31);
  Model m = load_model(dir);
  torch::NoGradGuard ng;
  torch::Tensor t = torch::tensor(ids).view({1, -1});
  const double nll = et::test::next_token_loss(forward(m, t), t).item<double>();
  // Tolerance: the reference has 5 decimals; fp32 vs float64 accumulation is ~1e-6 here.
  EXPECT_NEAR(nll, ref["teacher_forced_mean_nll_nats"].get<double>(), 1e-4);
}
