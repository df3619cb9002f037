// RoPE: the autograd function, the CPU fast path, the reference and the dispatch (rope.h).
#include "ops/rope/rope.h"

#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "ops/common/parallel.h"
#include "edgetune/core/error.h"
#include "ops/common/kernel_path.h"

namespace et::ops {

namespace detail {

torch::Tensor rope_rotate_cpu(const torch::Tensor& x, const torch::Tensor& positions, const torch::Tensor& inv_freq,
                              bool inverse) {
  const torch::Tensor xf = x.to(torch::kFloat32).contiguous();
  const torch::Tensor p = positions.to(torch::kInt64).contiguous();
  const torch::Tensor f = inv_freq.to(torch::kFloat32).contiguous();
  torch::Tensor y = torch::empty_like(xf);
  const int64_t n = x.size(0), heads = x.size(1), d = x.size(2), half = d / 2;
  const float* xp = xf.data_ptr<float>();
  const int64_t* pp = p.data_ptr<int64_t>();
  const float* fp = f.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const float sign = inverse ? -1.f : 1.f;
  at::parallel_for(0, n, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, heads * d)), [&](int64_t b, int64_t e) {
    std::vector<float> c(static_cast<size_t>(half)), s(static_cast<size_t>(half));
    for (int64_t t = b; t < e; ++t) {
      for (int64_t i = 0; i < half; ++i) {
        const float a = static_cast<float>(pp[t]) * fp[i];
        c[static_cast<size_t>(i)] = std::cos(a);
        s[static_cast<size_t>(i)] = sign * std::sin(a);
      }
      for (int64_t h = 0; h < heads; ++h) {
        const float* xr = xp + (t * heads + h) * d;
        float* yr = yp + (t * heads + h) * d;
        for (int64_t i = 0; i < half; ++i) {
          const float u = xr[i], v = xr[i + half], ci = c[static_cast<size_t>(i)], si = s[static_cast<size_t>(i)];
          yr[i] = u * ci - v * si;
          yr[i + half] = v * ci + u * si;
        }
      }
    }
  });
  return y.to(x.scalar_type());
}

#ifndef EDGETUNE_TORCH_CUDA
torch::Tensor rope_rotate_cuda(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, bool) {
  fail("rope", "CUDA tensors need a CUDA build of libtorch");
}
void rope_rotate_cuda_into(const torch::Tensor&, torch::Tensor&, const torch::Tensor&, const torch::Tensor&, bool) {
  fail("rope", "CUDA tensors need a CUDA build of libtorch");
}
#endif

}  // namespace detail

namespace {

torch::Tensor rotate(const torch::Tensor& x, const torch::Tensor& pos, const torch::Tensor& inv_freq, bool inverse) {
  if (x.is_cuda()) return detail::rope_rotate_cuda(x, pos, inv_freq, inverse);
  return detail::rope_rotate_cpu(x, pos, inv_freq, inverse);
}

struct RopeFunction : torch::autograd::Function<RopeFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& pos, const torch::Tensor& inv_freq) {
    ctx->save_for_backward({pos, inv_freq});
    return rotate(x, pos, inv_freq, false);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto s = ctx->get_saved_variables();
    return {rotate(grads[0], s[0], s[1], true), torch::Tensor(), torch::Tensor()};
  }
};

// y <- rotation of x, any token stride (CUDA in place; the CPU through a contiguous copy).
void rotate_into(const torch::Tensor& x, torch::Tensor y, const torch::Tensor& pos, const torch::Tensor& inv_freq,
                 bool inverse) {
  if (x.is_cuda()) return detail::rope_rotate_cuda_into(x, y, pos, inv_freq, inverse);
  y.copy_(detail::rope_rotate_cpu(x.contiguous(), pos, inv_freq, inverse));
}

struct RopeQkvFunction : torch::autograd::Function<RopeQkvFunction> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& y,
                                                int64_t hq, int64_t hkv, const torch::Tensor& pos,
                                                const torch::Tensor& inv_freq) {
    const int64_t n = y.size(0), d = inv_freq.size(0) * 2;
    const torch::Tensor yc = y.contiguous();
    const torch::Tensor yq = yc.narrow(1, 0, hq * d).view({n, hq, d});
    const torch::Tensor yk = yc.narrow(1, hq * d, hkv * d).view({n, hkv, d});
    torch::Tensor q = torch::empty({n, hq, d}, y.options()), k = torch::empty({n, hkv, d}, y.options());
    rotate_into(yq, q, pos, inv_freq, false);
    rotate_into(yk, k, pos, inv_freq, false);
    torch::Tensor v = yc.narrow(1, (hq + hkv) * d, hkv * d).contiguous().view({n, hkv, d});
    ctx->save_for_backward({pos, inv_freq});
    ctx->saved_data["hq"] = hq;
    ctx->saved_data["hkv"] = hkv;
    return {q, k, v};
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const int64_t hq = ctx->saved_data["hq"].toInt(), hkv = ctx->saved_data["hkv"].toInt();
    const int64_t d = s[1].size(0) * 2;
    const torch::Tensor& any = grads[0].defined() ? grads[0] : grads[1].defined() ? grads[1] : grads[2];
    const int64_t n = any.size(0);
    torch::Tensor dy = torch::empty({n, (hq + 2 * hkv) * d}, any.options());
    auto cols = [&](int64_t from, int64_t heads) { return dy.narrow(1, from * d, heads * d).view({n, heads, d}); };
    if (grads[0].defined()) rotate_into(grads[0].contiguous(), cols(0, hq), s[0], s[1], true);
    else cols(0, hq).zero_();
    if (grads[1].defined()) rotate_into(grads[1].contiguous(), cols(hq, hkv), s[0], s[1], true);
    else cols(hq, hkv).zero_();
    if (grads[2].defined()) cols(hq + hkv, hkv).copy_(grads[2].view({n, hkv, d}));
    else cols(hq + hkv, hkv).zero_();
    return {dy, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

void check_args(const torch::Tensor& x, const torch::Tensor& pos, const torch::Tensor& inv_freq) {
  const char* where = "rope";
  ET_CHECK(x.dim() == 3 && x.size(2) % 2 == 0, where, "x must be [tokens, heads, even head_dim], got ", x.sizes());
  ET_CHECK(pos.dim() == 1 && pos.size(0) == x.size(0), where, "positions ", pos.sizes(), " do not match ",
           x.size(0), " tokens");
  ET_CHECK(!pos.is_floating_point(), where, "positions must be integers");
  ET_CHECK(inv_freq.dim() == 1 && inv_freq.size(0) == x.size(2) / 2, where, "inv_freq has ", inv_freq.sizes(),
           ", head_dim ", x.size(2), " needs ", x.size(2) / 2);
}

}  // namespace

torch::Tensor rope_ref(const torch::Tensor& x, const torch::Tensor& pos, const torch::Tensor& inv_freq) {
  check_args(x, pos, inv_freq);
  // The angles in float32 as transformers computes them; a float64 x takes their exact cos/sin.
  torch::Tensor freqs = pos.to(x.device(), torch::kFloat32).unsqueeze(-1) * inv_freq.to(x.device(), torch::kFloat32);
  torch::Tensor emb = torch::cat({freqs, freqs}, -1);  // [N, D]
  if (x.scalar_type() == torch::kFloat64) emb = emb.to(torch::kFloat64);
  torch::Tensor cos = emb.cos().to(x.scalar_type()).unsqueeze(1), sin = emb.sin().to(x.scalar_type()).unsqueeze(1);
  const int64_t half = x.size(-1) / 2;
  torch::Tensor rotated = torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

std::vector<torch::Tensor> rope_qkv_ref(const torch::Tensor& y, int64_t hq, int64_t hkv, const torch::Tensor& pos,
                                        const torch::Tensor& inv_freq) {
  const int64_t n = y.size(0), d = inv_freq.size(0) * 2;
  ET_CHECK(y.dim() == 2 && y.size(1) == (hq + 2 * hkv) * d, "rope", "the q/k/v projection has ", y.sizes(),
           ", expected [tokens, ", (hq + 2 * hkv) * d, "]");
  return {rope_ref(y.narrow(1, 0, hq * d).reshape({n, hq, d}), pos, inv_freq),
          rope_ref(y.narrow(1, hq * d, hkv * d).reshape({n, hkv, d}), pos, inv_freq),
          y.narrow(1, (hq + hkv) * d, hkv * d).reshape({n, hkv, d})};
}

std::vector<torch::Tensor> rope_qkv(const torch::Tensor& y, int64_t hq, int64_t hkv, const torch::Tensor& pos,
                                    const torch::Tensor& inv_freq) {
  const int64_t d = inv_freq.size(0) * 2;
  ET_CHECK(y.dim() == 2 && y.size(1) == (hq + 2 * hkv) * d, "rope", "the q/k/v projection has ", y.sizes(),
           ", expected [tokens, ", (hq + 2 * hkv) * d, "]");
  ET_CHECK(pos.dim() == 1 && pos.size(0) == y.size(0), "rope", "positions ", pos.sizes(), " do not match ", y.size(0),
           " tokens");
  const auto t = y.scalar_type();
  const bool kernel_dtype = t == torch::kFloat32 || t == torch::kBFloat16 || t == torch::kFloat16;
  if (kernel_path() == KernelPath::reference || !kernel_dtype || y.numel() == 0 || !(y.is_cpu() || y.is_cuda()))
    return rope_qkv_ref(y, hq, hkv, pos, inv_freq);
  return RopeQkvFunction::apply(y, hq, hkv, pos, inv_freq);
}

torch::Tensor rope(const torch::Tensor& x, const torch::Tensor& pos, const torch::Tensor& inv_freq) {
  check_args(x, pos, inv_freq);
  const auto t = x.scalar_type();
  const bool kernel_dtype = t == torch::kFloat32 || t == torch::kBFloat16 || t == torch::kFloat16;
  if (kernel_path() == KernelPath::reference || !kernel_dtype || x.numel() == 0 || !(x.is_cpu() || x.is_cuda()))
    return rope_ref(x, pos, inv_freq);
  return RopeFunction::apply(x, pos, inv_freq);
}

}  // namespace et::ops
