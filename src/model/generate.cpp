// Generation loop: prefill the prompt into a KV cache, then decode one token per forward.
// Only the last position goes through the head.
#include "edgetune/model/generate.h"

#include <algorithm>
#include <cmath>

#include "edgetune/core/error.h"
#include "edgetune/core/log.h"
#include "edgetune/model/forward.h"

namespace et::model {

namespace {

// log-softmax of logits[id] (-infinity entries have no mass).
double log_probability(const std::vector<float>& logits, int64_t id) {
  const float top = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - top);
  return static_cast<double>(logits[static_cast<size_t>(id)]) - top - std::log(sum);
}

}  // namespace

std::vector<int64_t> generate(const Model& m, const std::vector<int64_t>& prompt, const GenerateOptions& o,
                              const std::function<bool(int64_t)>& on_token) {
  return generate_steps(m, prompt, o, [&](const TokenStep& s) { return !on_token || on_token(s.id); });
}

std::vector<int64_t> generate_steps(const Model& m, const std::vector<int64_t>& prompt, const GenerateOptions& o,
                                    const std::function<bool(const TokenStep&)>& on_step) {
  ET_CHECK(!prompt.empty(), "generate", "the prompt has no tokens (and the model no BOS to start from)");
  ET_CHECK(o.max_new_tokens >= 0, "generate", "max new tokens must be >= 0, got ", o.max_new_tokens);
  Sampler sampler(o.sampling);
  std::vector<int64_t> out;
  if (o.max_new_tokens == 0) return out;
  const int64_t total = static_cast<int64_t>(prompt.size()) + o.max_new_tokens;
  if (total > m.config.max_position_embeddings)
    log_warn("generate: ", total, " tokens exceed max_position_embeddings ", m.config.max_position_embeddings);

  torch::NoGradGuard no_grad;
  KVCache cache = make_kv_cache(m, total);
  ForwardInputs in;
  in.cache = &cache;
  auto next_logits = [&](const std::vector<int64_t>& ids) {
    torch::Tensor t = torch::tensor(ids, torch::kInt64).unsqueeze(0);
    torch::Tensor h = hidden_states(m, t, in);
    return lm_head_logits(m, h.select(1, h.size(1) - 1)).squeeze(0);
  };
  auto to_vector = [](const torch::Tensor& t) {
    torch::Tensor l = t.detach().to(torch::kCPU, torch::kFloat32).contiguous().view(-1);
    return std::vector<float>(l.data_ptr<float>(), l.data_ptr<float>() + l.numel());
  };
  std::vector<float> logits = to_vector(next_logits(prompt));
  for (int64_t i = 0; i < o.max_new_tokens; ++i) {
    if (o.mask_logits) o.mask_logits(i, logits);
    const int64_t tok = sampler.next(logits);
    if (std::find(o.stop_ids.begin(), o.stop_ids.end(), tok) != o.stop_ids.end()) break;
    out.push_back(tok);
    if (on_step && !on_step({tok, log_probability(logits, tok)})) break;
    if (i + 1 < o.max_new_tokens) logits = to_vector(next_logits({tok}));
  }
  return out;
}

}  // namespace et::model
