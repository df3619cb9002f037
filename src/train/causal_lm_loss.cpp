// The training loss with the gradient cut and optional gradient checkpointing (causal_lm_loss.h).
#include "edgetune/train/causal_lm_loss.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include "edgetune/core/error.h"
#include "edgetune/kernels/backward_counter.h"
#include "edgetune/kernels/cross_entropy.h"
#include "edgetune/model/forward.h"
#include "edgetune/model/model.h"

namespace et {

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
  return t;
}

namespace {

// Gradient checkpointing of one decoder layer: forward without keeping activations, recompute
// them in backward. Parameter gradients accumulate through the inner backward call (the layer's
// adapter tensors are leaves captured by the layer), so only `hidden` is an input here.
struct CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& hidden,
                               const model::Model* m, int64_t layer, const torch::Tensor& positions,
                               const torch::Tensor& segments) {
    ctx->save_for_backward({hidden, positions, segments});
    ctx->saved_data["layer"] = layer;
    ctx->saved_data["model"] = reinterpret_cast<int64_t>(m);
    torch::NoGradGuard no_grad;
    model::ForwardInputs in;
    in.positions = positions;
    in.segment_ids = segments;
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
    torch::Tensor y;
    {
      torch::AutoGradMode grad(true);
      kernels::LayerTagScope tag(layer);
      y = model::forward_layers(*m, x, layer, layer + 1, in);
    }
    torch::autograd::backward({y}, {grad_out[0]});
    return {x.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor forward_below_cut(const model::Model& m, const BatchTensors& b, const LossOptions& o) {
  const int cut = std::max(0, std::min(o.cut_layer, static_cast<int>(m.config.num_layers)));
  model::ForwardInputs in;
  in.positions = b.positions;
  in.segment_ids = b.segments;
  torch::Tensor hidden;
  {
    torch::AutoGradMode grad(o.embeddings_trainable && torch::GradMode::is_enabled());
    hidden = model::embed(m, b.ids);
  }
  // Each layer runs under its tag, so the backward counters can attribute work to layers.
  for (int l = 0; l < cut; ++l) {
    torch::NoGradGuard no_grad;  // the gradient cut: below it, no graph and no saved activations
    kernels::LayerTagScope tag(l);
    hidden = model::forward_layers(m, hidden, l, l + 1, in);
  }
  return hidden;
}

torch::Tensor causal_lm_loss_sum(const model::Model& m, const BatchTensors& b, const LossOptions& o) {
  const int L = static_cast<int>(m.config.num_layers);
  const int cut = std::max(0, std::min(o.cut_layer, L));
  model::ForwardInputs in;
  in.positions = b.positions;
  in.segment_ids = b.segments;
  torch::Tensor hidden;
  if (b.cut_hidden.defined()) {
    ET_CHECK(b.cut_hidden.dim() == 3 && b.cut_hidden.size(0) == b.ids.size(0) && b.cut_hidden.size(1) == b.ids.size(1),
             "causal_lm_loss", "cached hidden states ", b.cut_hidden.sizes(), " do not match the batch ", b.ids.sizes());
    hidden = b.cut_hidden;
  } else {
    hidden = forward_below_cut(m, b, o);
  }
  for (int l = cut; l < L; ++l) {
    kernels::LayerTagScope tag(l);
    // The first layer above the cut is never checkpointed: its input needs no gradient, and a
    // checkpointed layer needs one to be reached in backward.
    if (o.grad_checkpoint && hidden.requires_grad() && torch::GradMode::is_enabled())
      hidden = CheckpointedLayer::apply(hidden, &m, static_cast<int64_t>(l), b.positions, b.segments);
    else
      hidden = model::forward_layers(m, hidden, l, l + 1, in);
  }
  auto normed = model::final_norm(m, hidden);
  // Position t predicts token t+1: keep positions whose next token is a target.
  const int64_t H = normed.size(-1);
  auto rows = b.target.slice(1, 1).reshape(-1).nonzero().squeeze(1);  // over [B, T-1]
  auto h = normed.slice(1, 0, normed.size(1) - 1).reshape({-1, H}).index_select(0, rows);
  auto y = b.ids.slice(1, 1).reshape(-1).index_select(0, rows);
  return kernels::chunked_cross_entropy(h, m.lm_head, y, m.config.final_softcap);
}

}  // namespace et
