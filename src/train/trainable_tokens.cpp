// adapters.trainable_tokens -> token ids (trainable_tokens.h).
#include "edgetune/train/trainable_tokens.h"

#include <torch/types.h>

#include <algorithm>
#include <set>

#include "edgetune/core/error.h"
#include "edgetune/model/model.h"
#include "edgetune/tokenize/tokenizer.h"

namespace et {

std::vector<int64_t> indistinct_target_tokens(const model::Model& m, const std::vector<TokenizedExample>& examples,
                                              double min_cosine) {
  std::set<int64_t> targets;
  for (const auto& ex : examples)
    for (size_t t = 0; t < ex.ids.size(); ++t)
      if (ex.target[t]) targets.insert(ex.ids[t]);
  std::vector<int64_t> out;
  if (targets.empty()) return out;
  torch::NoGradGuard g;
  const torch::Tensor E = m.embed_tokens.to(torch::kFloat32);
  const torch::Tensor unit = E / E.norm(2, 1, true).clamp_min(1e-12);
  const std::vector<int64_t> ids(targets.begin(), targets.end());
  constexpr size_t kChunk = 256;  // rows of the [chunk, vocab] cosine block at a time
  for (size_t b = 0; b < ids.size(); b += kChunk) {
    const std::vector<int64_t> part(ids.begin() + static_cast<std::ptrdiff_t>(b),
                                    ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), b + kChunk)));
    const torch::Tensor index = torch::tensor(part, torch::kInt64).to(E.device());
    torch::Tensor cos = unit.index_select(0, index).matmul(unit.t());  // [chunk, vocab]
    cos.scatter_(1, index.unsqueeze(1), -2.0);                         // not with itself
    const torch::Tensor best = std::get<0>(cos.max(1)).to(torch::kCPU);
    for (size_t i = 0; i < part.size(); ++i)
      if (best[static_cast<int64_t>(i)].item<double>() >= min_cosine) out.push_back(part[i]);
  }
  return out;
}

std::vector<int64_t> resolve_trainable_tokens(const std::vector<std::string>& spec, const model::Model& m,
                                              const Tokenizer& tok, const std::vector<TokenizedExample>& examples) {
  std::set<int64_t> ids;
  for (const auto& s : spec) {
    if (s == "auto") {
      for (int64_t id : indistinct_target_tokens(m, examples)) ids.insert(id);
      continue;
    }
    if (auto id = tok.piece_to_id(s)) {
      ids.insert(*id);
      continue;
    }
    const bool digits = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits && s.size() < 10) {
      const int64_t id = std::stoll(s);
      if (id < m.config.vocab_size) {
        ids.insert(id);
        continue;
      }
    }
    fail("recipe", "adapters.trainable_tokens: '", s, "' is neither auto, a token id below ", m.config.vocab_size,
         " nor a piece of the vocabulary");
  }
  return {ids.begin(), ids.end()};
}

}  // namespace et
