// The cut-layer cache (cut_cache.h).
#include "edgetune/train/cut_cache.h"

#include <algorithm>
#include <chrono>

#include "edgetune/core/error.h"
#include "edgetune/model/model.h"
#include "edgetune/train/causal_lm_loss.h"

namespace et {

namespace {

// Row of the cache for each token of the batch (the padding row for padding).
torch::Tensor cache_rows(const CutCache& c, const Batch& b) {
  const int64_t pad_row = c.hidden.size(0) - 1;
  std::vector<int64_t> rows(b.example.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const int32_t ex = b.example[i];
    if (ex < 0) {
      rows[i] = pad_row;
      continue;
    }
    ET_CHECK(static_cast<size_t>(ex) < c.offset.size(), "cut_cache", "batch token from conversation ", ex,
             ", the cache holds ", c.offset.size());
    const int64_t r = c.offset[static_cast<size_t>(ex)] + b.positions[i];
    const int64_t end = static_cast<size_t>(ex) + 1 < c.offset.size() ? c.offset[static_cast<size_t>(ex) + 1] : pad_row;
    ET_CHECK(r < end, "cut_cache", "conversation ", ex, " position ", b.positions[i], " is past its ",
             end - c.offset[static_cast<size_t>(ex)], " cached tokens");
    rows[i] = r;
  }
  return torch::tensor(rows, torch::kLong);
}

// The filling's rows: one conversation each, longest first, so a batch pads only to its own
// longest (rows of similar length) and computes no position of another conversation (each
// conversation's states depend only on itself, so any packing gives the same cache).
std::vector<size_t> longest_first(const std::vector<TokenizedExample>& examples) {
  std::vector<size_t> order(examples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return examples[a].ids.size() > examples[b].ids.size(); });
  return order;
}

}  // namespace

int64_t cut_cache_bytes(const model::Model& m, const std::vector<TokenizedExample>& examples) {
  int64_t tokens = 1;
  for (const auto& e : examples) tokens += static_cast<int64_t>(e.ids.size());
  return tokens * m.config.hidden_size * static_cast<int64_t>(c10::elementSize(m.dtype));
}

CutCache build_cut_cache(const model::Model& m, const std::vector<TokenizedExample>& examples, int cut_layer,
                         int rows_per_batch, int max_len) {
  const auto t0 = std::chrono::steady_clock::now();
  ET_CHECK(cut_layer > 0 && cut_layer <= m.config.num_layers, "cut_cache", "cut layer ", cut_layer,
           " is not in 1..", m.config.num_layers);
  CutCache c;
  c.cut_layer = cut_layer;
  int64_t tokens = 0;
  for (const auto& e : examples) {
    ET_CHECK(static_cast<int>(e.ids.size()) <= max_len, "cut_cache", e.source, ": ", e.ids.size(),
             " tokens, longer than a row of ", max_len);
    c.offset.push_back(tokens);
    tokens += static_cast<int64_t>(e.ids.size());
  }
  c.hidden = torch::zeros({tokens + 1, m.config.hidden_size}, torch::TensorOptions().dtype(m.dtype).device(m.device));
  const auto rows = pack_examples(examples, longest_first(examples), max_len, /*pack=*/false, 0);
  LossOptions lo;
  lo.cut_layer = cut_layer;
  torch::NoGradGuard no_grad;
  for (size_t r = 0; r < rows.size(); r += static_cast<size_t>(rows_per_batch)) {
    const Batch b = make_batch(rows, r, std::min(static_cast<size_t>(rows_per_batch), rows.size() - r), 0);
    const torch::Tensor h = forward_below_cut(m, to_tensors(b, m.device), lo).reshape({-1, m.config.hidden_size});
    std::vector<int64_t> real;
    for (size_t i = 0; i < b.example.size(); ++i)
      if (b.example[i] >= 0) real.push_back(static_cast<int64_t>(i));
    const auto sel = torch::tensor(real, torch::kLong).to(m.device);
    c.hidden.index_copy_(0, cache_rows(c, b).to(m.device).index_select(0, sel), h.index_select(0, sel));
  }
  ET_CHECK(torch::isfinite(c.hidden).all().item<bool>(), "cut_cache", "hidden states at layer ", cut_layer,
           " are not finite");
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return c;
}

torch::Tensor cut_cache_hidden(const CutCache& c, const Batch& b) {
  ET_CHECK(b.example.size() == static_cast<size_t>(b.rows) * static_cast<size_t>(b.len), "cut_cache",
           "batch has ", b.example.size(), " conversation indices for ", b.rows, " x ", b.len, " tokens");
  return c.hidden.index_select(0, cache_rows(c, b).to(c.hidden.device())).view({b.rows, b.len, c.hidden.size(1)});
}

}  // namespace et
