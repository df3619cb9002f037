// The training loss with the gradient cut and optional gradient checkpointing (causal_lm_loss.h).
#include "edgetune/train/causal_lm_loss.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include "edgetune/core/error.h"
#include "ops/common/backward_counter.h"
#include "ops/cross_entropy/cross_entropy.h"
#include "edgetune/model/forward.h"
#include "edgetune/model/model.h"

namespace et {

namespace {

// The batch on its tokens (causal_lm_loss.h), or null when there is no padding or a loss position
// is padding.
std::shared_ptr<const BatchTokens> batch_tokens(const Batch& b) {
  const int64_t total = static_cast<int64_t>(b.rows) * b.len;
  std::vector<int64_t> keep, compact(static_cast<size_t>(total), -1), ids, positions, segments;
  std::vector<int32_t> seg_kept;
  for (int64_t i = 0; i < total; ++i) {
    const size_t u = static_cast<size_t>(i);
    if (b.segments[u] < 0) continue;
    compact[u] = static_cast<int64_t>(keep.size());
    keep.push_back(i);
    ids.push_back(b.ids[u]);
    positions.push_back(b.positions[u]);
    // sequence ids unique over the whole batch: a run of one id within one row
    segments.push_back(static_cast<int64_t>(i / b.len) * (int64_t{1} << 32) + b.segments[u]);
  }
  const int64_t n = static_cast<int64_t>(keep.size());
  if (n == total || n == 0) return nullptr;
  std::vector<int64_t> loss_rows;
  for (int r = 0; r < b.rows; ++r)
    for (int t = 0; t + 1 < b.len; ++t) {
      const size_t at = static_cast<size_t>(r * b.len + t);
      if (!b.target[at + 1]) continue;
      if (compact[at] < 0) return nullptr;
      loss_rows.push_back(compact[at]);
    }
  // Runs of one (row, segment) pair are the sequences; renumber them 0, 1, ... for the offsets.
  seg_kept.reserve(keep.size());
  int32_t next = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (i == 0 || segments[static_cast<size_t>(i)] != segments[static_cast<size_t>(i - 1)]) ++next;
    seg_kept.push_back(next);
  }
  auto t = std::make_shared<BatchTokens>();
  auto up = [](std::vector<int64_t>& v, std::vector<int64_t> shape) {
    return torch::from_blob(v.data(), shape, torch::kInt64).clone();
  };
  t->keep = up(keep, {n});
  t->ids = up(ids, {1, n});
  t->positions = up(positions, {1, n});
  std::vector<int64_t> seg64(seg_kept.begin(), seg_kept.end());
  t->segments = up(seg64, {1, n});
  t->loss_rows = up(loss_rows, {static_cast<int64_t>(loss_rows.size())});
  t->varlen = std::make_shared<ops::VarlenSeqs>(ops::varlen_from_segments(seg_kept.data(), 1, n, torch::kCPU));
  return t;
}

}  // namespace

BatchTensors to_tensors(const Batch& b, torch::Device device) {
  auto make = [&](const std::vector<int32_t>& v) {
    return torch::from_blob(const_cast<int32_t*>(v.data()), {b.rows, b.len}, torch::kInt32)
        .to(torch::kLong)
        .to(device);
  };
  BatchTensors t;
  t.ids = make(b.ids);
  t.positions = make(b.positions);
  t.segments = make(b.segments);
  t.target = torch::from_blob(const_cast<uint8_t*>(b.target.data()), {b.rows, b.len}, torch::kUInt8)
                 .to(torch::kBool)
                 .to(device);
  t.num_targets = b.num_targets;
  for (auto s : b.segments) t.num_tokens += s >= 0;
  t.loss = loss_positions(b, device);
  t.varlen = std::make_shared<ops::VarlenSeqs>(ops::varlen_from_segments(b.segments.data(), b.rows, b.len, device));
  int64_t lo = 0, hi = 0;
  for (int32_t id : b.ids) {
    lo = std::min<int64_t>(lo, id);
    hi = std::max<int64_t>(hi, id);
  }
  ET_CHECK(lo >= 0, "train", "token id ", lo, " is negative");
  t.max_id = hi;
  if (device.is_cpu()) t.tokens = batch_tokens(b);
  return t;
}

LossPositions loss_positions(const Batch& b, torch::Device device) {
  // Position t predicts token t + 1, so it is read when token t + 1 is a target.
  std::vector<int64_t> count(static_cast<size_t>(b.rows), 0);
  int64_t q = 0;
  for (int r = 0; r < b.rows; ++r) {
    for (int t = 0; t + 1 < b.len; ++t) count[static_cast<size_t>(r)] += b.target[static_cast<size_t>(r * b.len + t + 1)] != 0;
    q = std::max(q, count[static_cast<size_t>(r)]);
  }
  std::vector<int64_t> queries(static_cast<size_t>(b.rows * q), 0), slots, labels;
  for (int r = 0; r < b.rows; ++r) {
    int64_t k = 0;
    for (int t = 0; t + 1 < b.len; ++t) {
      const size_t next = static_cast<size_t>(r * b.len + t + 1);
      if (!b.target[next]) continue;
      queries[static_cast<size_t>(r * q + k)] = t;
      slots.push_back(r * q + k);
      labels.push_back(b.ids[next]);
      ++k;
    }
  }
  auto up = [&](std::vector<int64_t>& v, std::vector<int64_t> shape) {
    return torch::from_blob(v.data(), shape, torch::kInt64).clone().to(device);
  };
  LossPositions p;
  p.queries = up(queries, {b.rows, q});
  p.slots = up(slots, {static_cast<int64_t>(slots.size())});
  p.labels = up(labels, {static_cast<int64_t>(labels.size())});
  return p;
}

namespace {

// Gradient checkpointing of one decoder layer: forward without keeping activations, recompute
// them in backward (all but the layer's output, which no backward reads: the MLP's last GEMM is
// not rerun). Parameter gradients accumulate through the inner backward call (the layer's
// adapter tensors are leaves captured by the layer), so only `hidden` is an input here.
struct CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
  // varlen: the address of the batch's ops::VarlenSeqs (or 0), which outlives the backward.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& hidden,
                               const model::Model* m, int64_t layer, const torch::Tensor& positions,
                               const torch::Tensor& segments, int64_t varlen) {
    ctx->save_for_backward({hidden, positions, segments});
    ctx->saved_data["layer"] = layer;
    ctx->saved_data["model"] = reinterpret_cast<int64_t>(m);
    ctx->saved_data["varlen"] = varlen;
    torch::NoGradGuard no_grad;
    model::ForwardInputs in;
    in.positions = positions;
    in.segment_ids = segments;
    in.varlen = reinterpret_cast<const ops::VarlenSeqs*>(varlen);
    return model::forward_layers(*m, hidden, static_cast<int>(layer), static_cast<int>(layer) + 1, in);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto saved = ctx->get_saved_variables();
    const auto* m = reinterpret_cast<const model::Model*>(ctx->saved_data["model"].toInt());
    const int layer = static_cast<int>(ctx->saved_data["layer"].toInt());
    auto x = saved[0].detach().requires_grad_(true);
    model::ForwardInputs in;
    in.positions = saved[1];
    in.segment_ids = saved[2];
    in.varlen = reinterpret_cast<const ops::VarlenSeqs*>(ctx->saved_data["varlen"].toInt());
    std::array<torch::Tensor, 2> terms;  // the output is their sum; its values are not needed
    {
      torch::AutoGradMode grad(true);
      ops::LayerTagScope tag(layer);
      terms = model::layer_output_terms(*m, x, layer, in);
    }
    torch::autograd::variable_list roots, grads;
    for (const auto& t : terms)
      if (t.requires_grad()) roots.push_back(t), grads.push_back(grad_out[0]);
    torch::autograd::backward(roots, grads);
    return {x.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor forward_below_cut(const model::Model& m, const BatchTensors& b, const LossOptions& o) {
  const int cut = std::max(0, std::min(o.cut_layer, static_cast<int>(m.config.num_layers)));
  model::ForwardInputs in;
  in.positions = b.positions;
  in.segment_ids = b.segments;
  in.varlen = b.varlen.get();
  torch::Tensor hidden;
  {
    torch::AutoGradMode grad((o.embeddings_trainable || (m.token_rows.defined() && m.token_rows.requires_grad())) &&
                            torch::GradMode::is_enabled());
    ET_CHECK(b.max_id < m.config.vocab_size, "train", "token id ", b.max_id, " is outside the vocabulary [0, ",
             m.config.vocab_size, ")");
    hidden = model::embed(m, b.ids, /*check_ids=*/b.max_id < 0);
  }
  // Each layer runs under its tag, so the backward counters can attribute work to layers.
  for (int l = 0; l < cut; ++l) {
    torch::NoGradGuard no_grad;  // the gradient cut: below it, no graph and no saved activations
    ops::LayerTagScope tag(l);
    hidden = model::forward_layers(m, hidden, l, l + 1, in);
  }
  return hidden;
}

int64_t loss_chunk_rows(const model::Model& m, bool memory_budget) {
  if (!m.device.is_cuda() || !memory_budget) return 0;
  return ops::cross_entropy_chunk_rows(m.config.vocab_size, int64_t{1} << 40, /*cuda=*/true, /*small=*/true);
}

LossPositions loss_positions(const BatchTensors& b) {
  // Position t predicts token t + 1, so it is read when token t + 1 is a target.
  const int64_t B = b.target.size(0);
  torch::Tensor reads = b.target.slice(1, 1).to(torch::kBool);  // [B, T-1]
  torch::Tensor nz = reads.nonzero();                             // [N, 2]: row, position; row-major
  torch::Tensor row = nz.select(1, 0), pos = nz.select(1, 1);
  torch::Tensor slot = (reads.to(torch::kLong).cumsum(1) - 1).index({row, pos});  // rank within the row
  const int64_t Q = nz.size(0) > 0 ? reads.sum(1).max().item<int64_t>() : 0;
  LossPositions p;
  p.queries = torch::zeros({B, Q}, pos.options()).index_put_({row, slot}, pos);  // free slots: position 0
  p.slots = row * Q + slot;
  p.labels = b.ids.index({row, pos + 1});
  return p;
}

namespace {

// causal_lm_loss_sum on the batch's tokens: every layer from the cut up runs whole on the N token
// rows (no query-subset last layer: with variable-length attention a whole layer costs less than
// the subset's masked attention), then the loss rows are read.
torch::Tensor loss_sum_on_tokens(const model::Model& m, const BatchTensors& b, const LossOptions& o) {
  const BatchTokens& tk = *b.tokens;
  const int L = static_cast<int>(m.config.num_layers);
  const int cut = std::max(0, std::min(o.cut_layer, L));
  model::ForwardInputs in;
  in.positions = tk.positions;
  in.segment_ids = tk.segments;
  in.varlen = tk.varlen.get();
  const int64_t H = m.config.hidden_size;
  torch::Tensor hidden;
  int from = 0;
  if (b.cut_hidden.defined()) {
    ET_CHECK(b.cut_hidden.dim() == 3 && b.cut_hidden.size(0) == b.ids.size(0) && b.cut_hidden.size(1) == b.ids.size(1),
             "causal_lm_loss", "cached hidden states ", b.cut_hidden.sizes(), " do not match the batch ", b.ids.sizes());
    hidden = b.cut_hidden.reshape({-1, H}).index_select(0, tk.keep).unsqueeze(0);
    from = cut;
  } else {
    torch::AutoGradMode grad((o.embeddings_trainable || (m.token_rows.defined() && m.token_rows.requires_grad())) &&
                            torch::GradMode::is_enabled());
    ET_CHECK(b.max_id < m.config.vocab_size, "train", "token id ", b.max_id, " is outside the vocabulary [0, ",
             m.config.vocab_size, ")");
    hidden = model::embed(m, tk.ids, /*check_ids=*/b.max_id < 0);
  }
  for (int l = from; l < L; ++l) {
    ops::LayerTagScope tag(l);
    if (l < cut) {
      torch::NoGradGuard no_grad;  // the gradient cut
      hidden = model::forward_layers(m, hidden, l, l + 1, in);
    } else if (o.grad_checkpoint && hidden.requires_grad() && torch::GradMode::is_enabled()) {
      hidden = CheckpointedLayer::apply(hidden, &m, static_cast<int64_t>(l), tk.positions, tk.segments,
                                        reinterpret_cast<int64_t>(in.varlen));
    } else {
      hidden = model::forward_layers(m, hidden, l, l + 1, in);
    }
  }
  const torch::Tensor h = model::final_norm(m, hidden.reshape({-1, H}).index_select(0, tk.loss_rows));
  return ops::chunked_cross_entropy(h, model::head_weight(m), b.loss.labels, m.config.final_softcap, o.loss_chunk_rows,
                                    /*check_targets=*/b.max_id < 0);
}

}  // namespace

torch::Tensor causal_lm_loss_sum(const model::Model& m, const BatchTensors& b, const LossOptions& o) {
  const int L = static_cast<int>(m.config.num_layers);
  const int cut = std::max(0, std::min(o.cut_layer, L));
  model::ForwardInputs in;
  in.positions = b.positions;
  in.segment_ids = b.segments;
  in.varlen = b.varlen.get();
  const bool host_positions = b.loss.slots.defined();
  const LossPositions lp = host_positions ? b.loss : loss_positions(b);
  if (lp.slots.numel() == 0) return torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(m.device));
  if (b.tokens && host_positions && m.device.is_cpu()) {
    model::ForwardInputs tin;
    tin.varlen = b.tokens->varlen.get();
    if (model::uses_varlen_attention(m, tin)) return loss_sum_on_tokens(m, b, o);
  }
  // Layers [from, L-1) run whole here; the last one only at the positions the loss reads.
  torch::Tensor hidden;
  int from = 0;
  if (b.cut_hidden.defined()) {
    ET_CHECK(b.cut_hidden.dim() == 3 && b.cut_hidden.size(0) == b.ids.size(0) && b.cut_hidden.size(1) == b.ids.size(1),
             "causal_lm_loss", "cached hidden states ", b.cut_hidden.sizes(), " do not match the batch ", b.ids.sizes());
    hidden = b.cut_hidden;
    from = cut;
  } else {
    LossOptions below = o;
    below.cut_layer = std::min(cut, L - 1);
    hidden = forward_below_cut(m, b, below);
    from = below.cut_layer;
  }
  for (int l = from; l < L - 1; ++l) {
    ops::LayerTagScope tag(l);
    // The first layer above the cut is never checkpointed: its input needs no gradient, and a
    // checkpointed layer needs one to be reached in backward.
    if (o.grad_checkpoint && hidden.requires_grad() && torch::GradMode::is_enabled())
      hidden = CheckpointedLayer::apply(hidden, &m, static_cast<int64_t>(l), b.positions, b.segments,
                                        reinterpret_cast<int64_t>(in.varlen));
    else
      hidden = model::forward_layers(m, hidden, l, l + 1, in);
  }
  torch::Tensor at;  // [B, Q, hidden]
  if (from == L) {
    at = model::gather_positions(hidden, lp.queries);
  } else {
    ops::LayerTagScope tag(L - 1);
    torch::AutoGradMode grad(torch::GradMode::is_enabled() && cut < L);  // the last layer may be below the cut
    // With the flash kernel, the whole layer then a gather costs less than the query-subset
    // layer's masked dense attention (its [B, 1, Q, T] mask and unfused kernels), even when few
    // positions are read (packed rows of short conversations, assistant turns only).
    if (model::uses_varlen_attention(m, in))
      at = model::gather_positions(model::forward_layers(m, hidden, L - 1, L, in), lp.queries);
    else
      at = model::forward_layer_at(m, hidden, L - 1, lp.queries, in);
  }
  const int64_t H = at.size(-1);
  auto h = model::final_norm(m, at).reshape({-1, H}).index_select(0, lp.slots);
  // Labels computed on the host come from ids checked there against the vocabulary.
  return ops::chunked_cross_entropy(h, model::head_weight(m), lp.labels, m.config.final_softcap, o.loss_chunk_rows,
                                    /*check_targets=*/!(host_positions && b.max_id >= 0));
}

}  // namespace et
