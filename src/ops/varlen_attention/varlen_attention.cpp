// Dispatch, sequence offsets and the reference of varlen attention (varlen_attention.h).
#include "ops/varlen_attention/varlen_attention.h"

#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <numeric>

#include "ops/common/parallel.h"
#include "edgetune/core/error.h"
#include "ops/common/kernel_path.h"
#include "ops/varlen_attention/varlen_attention_cpu.h"

namespace et::ops {

VarlenSeqs varlen_from_segments(const int32_t* segments, int64_t rows, int64_t len, torch::Device device) {
  VarlenSeqs s;
  s.cu.push_back(0);
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t* row = segments + r * len;
    for (int64_t t = 0; t < len; ++t) {
      if (t > 0 && row[t] != row[t - 1]) s.cu.push_back(static_cast<int32_t>(r * len + t));
    }
    s.cu.push_back(static_cast<int32_t>((r + 1) * len));
  }
  for (size_t i = 1; i < s.cu.size(); ++i) s.max_len = std::max<int64_t>(s.max_len, s.cu[i] - s.cu[i - 1]);
  s.cu_seqlens = torch::from_blob(s.cu.data(), {static_cast<int64_t>(s.cu.size())}, torch::kInt32).clone().to(device);
  return s;
}

bool flash_varlen_usable(const torch::Tensor& q, const torch::Tensor& k, double softcap) {
  if (softcap > 0 || !q.is_cuda()) return false;
  if (q.scalar_type() != torch::kBFloat16 && q.scalar_type() != torch::kFloat16) return false;
  const int64_t d = q.size(-1);
  if (d % 8 != 0 || d > 256 || k.size(-1) != d) return false;
  return detail::flash_varlen_registered();
}

bool cpu_varlen_usable(const torch::Tensor& q, const torch::Tensor& k, double softcap) {
  return softcap <= 0 && q.is_cpu() && k.is_cpu() && q.scalar_type() == torch::kFloat32 &&
         k.scalar_type() == torch::kFloat32;
}

namespace {

void check_args(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const VarlenSeqs& s) {
  const char* where = "varlen_attention";
  ET_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3, where, "q, k, v must be [tokens, heads, head_dim], got ",
           q.sizes(), ", ", k.sizes(), ", ", v.sizes());
  ET_CHECK(k.sizes() == v.sizes(), where, "k ", k.sizes(), " and v ", v.sizes(), " differ");
  ET_CHECK(q.size(0) == k.size(0) && q.size(2) == k.size(2), where, "q ", q.sizes(), " and k ", k.sizes(),
           " do not fit");
  ET_CHECK(k.size(1) > 0 && q.size(1) % k.size(1) == 0, where, q.size(1), " query heads is not a multiple of ",
           k.size(1), " key/value heads");
  ET_CHECK(s.total() == q.size(0), where, "the sequences cover ", s.total(), " tokens, q has ", q.size(0));
}

}  // namespace

torch::Tensor varlen_attention_ref(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                   const VarlenSeqs& seqs, double scale, int64_t window) {
  check_args(q, k, v, seqs);
  const int64_t rep = q.size(1) / k.size(1);
  const auto f32 = q.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  std::vector<torch::Tensor> outs;
  for (size_t s = 0; s + 1 < seqs.cu.size(); ++s) {
    const int64_t b = seqs.cu[s], e = seqs.cu[s + 1], n = e - b;
    if (n == 0) continue;
    auto qs = q.slice(0, b, e).transpose(0, 1).to(f32);                                   // [Hq, n, D]
    auto ks = k.slice(0, b, e).transpose(0, 1).repeat_interleave(rep, 0).to(f32);         // [Hq, n, D]
    auto vs = v.slice(0, b, e).transpose(0, 1).repeat_interleave(rep, 0).to(f32);
    auto scores = torch::matmul(qs, ks.transpose(1, 2)) * scale;                          // [Hq, n, n]
    auto opts = torch::TensorOptions().dtype(torch::kInt64).device(q.device());
    auto i = torch::arange(n, opts).unsqueeze(1), j = torch::arange(n, opts).unsqueeze(0);
    auto allowed = j <= i;
    if (window > 0) allowed = allowed.logical_and(i - j < window);
    scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity());
    outs.push_back(torch::matmul(torch::softmax(scores, -1), vs).transpose(0, 1).to(q.scalar_type()));
  }
  return torch::cat(outs, 0);
}

namespace {

// Runs fn(sequence, kv head, work) over every pair on all threads, the longest sequences first,
// each thread taking the next pair when it is done (sequence lengths vary widely).
template <class W, class F>
void for_each_group(const std::vector<int64_t>& cu, int64_t heads_kv, W work_floats, F fn) {
  const int64_t S = static_cast<int64_t>(cu.size()) - 1;
  std::vector<int64_t> order(static_cast<size_t>(S));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return cu[a + 1] - cu[a] > cu[b + 1] - cu[b];
  });
  int64_t longest = 0;
  for (int64_t s = 0; s < S; ++s) longest = std::max(longest, cu[s + 1] - cu[s]);
  const int64_t tasks = S * heads_kv;
  std::atomic<int64_t> next{0};
  const int64_t threads = std::min<int64_t>(std::max(1, at::get_num_threads()), std::max<int64_t>(1, tasks));
  at::parallel_for(0, threads, 1, [&](int64_t, int64_t) {
    std::vector<float> work(static_cast<size_t>(work_floats(longest)));
    for (int64_t t = next++; t < tasks; t = next++) {
      const int64_t s = order[static_cast<size_t>(t / heads_kv)], g = t % heads_kv;
      fn(cu[s], cu[s + 1], g, work.data());
    }
  });
}

cpu::VarlenDims dims_of(const torch::Tensor& q, const torch::Tensor& k, double scale, int64_t window) {
  cpu::VarlenDims d;
  d.heads_q = q.size(1);
  d.heads_kv = k.size(1);
  d.head_dim = q.size(2);
  d.scale = static_cast<float>(scale);
  d.window = window;
  return d;
}

struct VarlenCpuFn : torch::autograd::Function<VarlenCpuFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, std::vector<int64_t> cu, double scale, int64_t window) {
    RECORD_FUNCTION("et::varlen_attention_cpu", std::vector<c10::IValue>());
    const torch::Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
    const cpu::VarlenDims d = dims_of(q, k, scale, window);
    torch::Tensor o = torch::empty_like(qc), lse = torch::empty({q.size(0), q.size(1)}, qc.options());
    const float *qp = qc.data_ptr<float>(), *kp = kc.data_ptr<float>(), *vp = vc.data_ptr<float>();
    float *op = o.data_ptr<float>(), *lp = lse.data_ptr<float>();
    for_each_group(cu, d.heads_kv, [&](int64_t n) { return cpu::varlen_forward_work(d, n); }, [&](int64_t b, int64_t e, int64_t g, float* work) {
      cpu::varlen_forward_group(d, qp, kp, vp, b, e, g, op, lp, work);
    });
    ctx->save_for_backward({qc, kc, vc, o, lse});
    ctx->saved_data["cu"] = cu;
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["window"] = window;
    return o;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    RECORD_FUNCTION("et::varlen_attention_cpu_backward", std::vector<c10::IValue>());
    const auto s = ctx->get_saved_variables();
    const torch::Tensor &q = s[0], &k = s[1], &v = s[2], &o = s[3], &lse = s[4];
    const std::vector<int64_t> cu = ctx->saved_data["cu"].toIntVector();
    const cpu::VarlenDims d = dims_of(q, k, ctx->saved_data["scale"].toDouble(), ctx->saved_data["window"].toInt());
    const torch::Tensor dout = grads[0].to(torch::kFloat32).contiguous();
    torch::Tensor dq = torch::empty_like(q), dk = torch::empty_like(k), dv = torch::empty_like(v);
    const float *qp = q.data_ptr<float>(), *kp = k.data_ptr<float>(), *vp = v.data_ptr<float>();
    const float *op = o.data_ptr<float>(), *dop = dout.data_ptr<float>(), *lp = lse.data_ptr<float>();
    float *dqp = dq.data_ptr<float>(), *dkp = dk.data_ptr<float>(), *dvp = dv.data_ptr<float>();
    for_each_group(cu, d.heads_kv, [&](int64_t n) { return cpu::varlen_backward_work(d, n); }, [&](int64_t b, int64_t e, int64_t g, float* work) {
      cpu::varlen_backward_group(d, qp, kp, vp, op, dop, lp, b, e, g, dqp, dkp, dvp, work);
    });
    return {dq, dk, dv, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

namespace detail {
torch::Tensor varlen_attention_cpu(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                   const VarlenSeqs& seqs, double scale, int64_t window) {
  check_args(q, k, v, seqs);
  ET_CHECK(cpu_varlen_usable(q, k, 0.0) && v.is_cpu() && v.scalar_type() == torch::kFloat32, "varlen_attention",
           "the CPU kernel takes float32 CPU tensors, got ", q.scalar_type(), " on ", q.device().str());
  std::vector<int64_t> cu(seqs.cu.begin(), seqs.cu.end());
  return VarlenCpuFn::apply(q, k, v, cu, scale, window);
}
}  // namespace detail

namespace {
// cuDNN's backward refuses rows of one token (libtorch 2.11: "s_q = s_kv = 1 is not supported"),
// which must be known before the forward runs; short rows gain nothing from it anyway.
constexpr int64_t kCudnnMinRowLength = 16;
std::atomic<DenseAttention> g_dense_attention{DenseAttention::cudnn};
}  // namespace

void set_dense_attention(DenseAttention a) { g_dense_attention = a; }
DenseAttention dense_attention() { return g_dense_attention.load(); }

int64_t dense_row_length(const VarlenSeqs& seqs) {
  if (seqs.cu.size() < 2) return 0;
  const int64_t len = seqs.cu[1];
  for (size_t i = 1; i < seqs.cu.size(); ++i)
    if (seqs.cu[i] - seqs.cu[i - 1] != len) return 0;
  return len;
}

torch::Tensor varlen_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const VarlenSeqs& seqs, double scale, int64_t window) {
  check_args(q, k, v, seqs);
  if (kernel_path() == KernelPath::fast && flash_varlen_usable(q, k, 0.0)) {
    const int64_t len = dense_row_length(seqs);
    if (len >= kCudnnMinRowLength && (window <= 0 || window >= len) && dense_attention() == DenseAttention::cudnn &&
        detail::cudnn_dense_registered()) {
      torch::Tensor o = detail::dense_attention_cudnn(q, k, v, q.size(0) / len, scale);
      if (o.defined()) return o;
    }
    return detail::varlen_attention_flash(q, k, v, seqs, scale, window);
  }
  if (kernel_path() == KernelPath::fast && cpu_varlen_usable(q, k, 0.0) && v.scalar_type() == torch::kFloat32)
    return detail::varlen_attention_cpu(q, k, v, seqs, scale, window);
  return varlen_attention_ref(q, k, v, seqs, scale, window);
}

#ifndef EDGETUNE_TORCH_CUDA
namespace detail {
bool flash_varlen_registered() { return false; }
bool cudnn_dense_registered() { return false; }
torch::Tensor dense_attention_cudnn(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, int64_t,
                                    double) {
  fail("varlen_attention", "cuDNN attention needs a CUDA build of libtorch");
}
torch::Tensor varlen_attention_flash(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
                                     const VarlenSeqs&, double, int64_t) {
  fail("varlen_attention", "the flash kernel needs a CUDA build of libtorch");
}
}  // namespace detail
#endif

}  // namespace et::ops
