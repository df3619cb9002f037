// Multi-tensor AdamW and gradient norm on CUDA tensors: the (tensor, chunk) tables built on the
// host in pinned memory and copied without a sync; the launchers on the current stream.
#include "ops/adamw/adamw.h"
#include "ops/adamw/adamw_cuda.h"
#include "ops/common/torch_glue.h"

namespace et::ops::detail {

namespace {

struct Tables {
  torch::Tensor table, chunks;  // on the device
  int64_t n_chunks = 0;
};

// Rows of (p, g, m, v, n) for the entries with a gradient; p, m, v may be empty (norm only: the
// gradient is put in every slot, read only).
Tables make_tables(const std::vector<torch::Tensor>& grads, const std::vector<torch::Tensor>* p,
                   const std::vector<torch::Tensor>* m, const std::vector<torch::Tensor>* v, torch::Device device) {
  std::vector<int64_t> table, chunks;
  int64_t index = 0;
  for (size_t i = 0; i < grads.size(); ++i) {
    const torch::Tensor& g = grads[i];
    if (!g.defined() || g.numel() == 0) continue;
    auto addr = [](const torch::Tensor& t) { return reinterpret_cast<int64_t>(t.data_ptr()); };
    table.insert(table.end(), {p ? addr((*p)[i]) : addr(g), addr(g), m ? addr((*m)[i]) : addr(g),
                               v ? addr((*v)[i]) : addr(g), g.numel()});
    for (int64_t b = 0; b < g.numel(); b += et::cuda::kAdamWChunk) chunks.insert(chunks.end(), {index, b});
    ++index;
  }
  Tables t;
  t.n_chunks = static_cast<int64_t>(chunks.size() / 2);
  auto up = [&](const std::vector<int64_t>& v) {
    torch::Tensor h = torch::empty({static_cast<int64_t>(std::max<size_t>(1, v.size()))},
                                   torch::TensorOptions().dtype(torch::kInt64).pinned_memory(true));
    std::copy(v.begin(), v.end(), h.data_ptr<int64_t>());
    return h.to(device, /*non_blocking=*/true);
  };
  t.table = up(table);
  t.chunks = up(chunks);
  return t;
}

void check_float32(const torch::Tensor& t, const char* what) {
  ET_CHECK(t.scalar_type() == torch::kFloat32 && t.is_contiguous() && t.is_cuda(), "adamw", what,
           " must be contiguous float32 CUDA tensors");
}

}  // namespace

torch::Tensor global_grad_norm_cuda(const std::vector<torch::Tensor>& grads) {
  torch::Device device(torch::kCUDA);
  for (const auto& g : grads)
    if (g.defined()) {
      check_float32(g, "gradients");
      device = g.device();
    }
  c10::cuda::CUDAGuard guard(device);
  const Tables t = make_tables(grads, nullptr, nullptr, nullptr, device);
  torch::Tensor partials = torch::empty({std::max<int64_t>(1, t.n_chunks)}, torch::TensorOptions().dtype(torch::kFloat32).device(device));
  torch::Tensor out = torch::empty({2}, partials.options());
  et::cuda::grad_norm(t.table.data_ptr<int64_t>(), t.chunks.data_ptr<int64_t>(), t.n_chunks, partials.data_ptr<float>(),
                      0.f, out.data_ptr<float>(), current_stream());
  return out[0];
}

void adamw_update_cuda(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& grads,
                       const std::vector<torch::Tensor>& exp_avg, const std::vector<torch::Tensor>& exp_avg_sq,
                       const AdamWHyper& h, const torch::Tensor& grad_scale) {
  torch::Device device(torch::kCUDA);
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i].defined()) continue;
    check_float32(params[i], "parameters");
    check_float32(grads[i], "gradients");
    check_float32(exp_avg[i], "moments");
    check_float32(exp_avg_sq[i], "moments");
    device = params[i].device();
  }
  c10::cuda::CUDAGuard guard(device);
  const Tables t = make_tables(grads, &params, &exp_avg, &exp_avg_sq, device);
  const double bc1 = 1.0 - std::pow(h.beta1, static_cast<double>(h.step));
  const double bc2 = 1.0 - std::pow(h.beta2, static_cast<double>(h.step));
  const torch::Tensor scale = grad_scale.defined() ? grad_scale.to(device, torch::kFloat32).contiguous() : torch::Tensor();
  et::cuda::adamw_update(t.table.data_ptr<int64_t>(), t.chunks.data_ptr<int64_t>(), t.n_chunks,
                         static_cast<float>(h.lr), static_cast<float>(h.beta1), static_cast<float>(h.beta2),
                         static_cast<float>(h.eps), static_cast<float>(h.weight_decay), static_cast<float>(bc1),
                         static_cast<float>(bc2), scale.defined() ? scale.data_ptr<float>() : nullptr,
                         current_stream());
}

}  // namespace et::ops::detail
