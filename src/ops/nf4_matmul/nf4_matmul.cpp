// The torch side of nf4_matmul (nf4_matmul.h): argument checks, the split over threads, the
// autograd function and the reference.
#include "ops/nf4_matmul/nf4_matmul.h"

#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include "ops/common/parallel.h"
#include "edgetune/core/error.h"
#include "ops/nf4_matmul/nf4_matmul_cpu.h"

namespace et::ops {

namespace {

constexpr const char* kOp = "nf4_matmul";

cpu::WeightView view_of(const MatmulWeight& w) {
  cpu::WeightView v;
  v.rows = w.rows;
  v.cols = w.cols;
  v.block = w.block;
  if (w.packed.defined()) {
    v.packed = w.packed.data_ptr<uint8_t>();
    v.scales = w.scales.data_ptr<float>();
    v.code = w.code.data_ptr<float>();
  } else {
    v.dense = w.dense.data_ptr<float>();
    v.ld = w.rows > 1 ? w.dense.stride(0) : w.cols;
  }
  return v;
}

void check_weight(const MatmulWeight& w) {
  ET_CHECK(w.rows >= 0 && w.cols >= 0 && w.block > 0 && w.block % 2 == 0, kOp, "bad weight geometry [", w.rows,
           ", ", w.cols, "] block ", w.block);
  const int64_t numel = w.rows * w.cols;
  if (w.packed.defined()) {
    ET_CHECK(w.packed.is_cpu() && w.packed.scalar_type() == torch::kUInt8 && w.packed.is_contiguous() &&
                 w.packed.numel() == (numel + 1) / 2,
             kOp, "packed codes must be contiguous uint8 [", (numel + 1) / 2, "] on the CPU, got ",
             w.packed.scalar_type(), " ", w.packed.sizes());
    ET_CHECK(w.scales.defined() && w.scales.is_cpu() && w.scales.scalar_type() == torch::kFloat32 &&
                 w.scales.is_contiguous() && w.scales.numel() == (numel + w.block - 1) / w.block,
             kOp, "scales must be contiguous float32 [", (numel + w.block - 1) / w.block, "]");
    ET_CHECK(w.code.defined() && w.code.is_cpu() && w.code.scalar_type() == torch::kFloat32 &&
                 w.code.is_contiguous() && w.code.numel() == 16,
             kOp, "the code table must be contiguous float32 [16]");
  } else {
    ET_CHECK(w.dense.defined() && w.dense.is_cpu() && w.dense.scalar_type() == torch::kFloat32 &&
                 w.dense.dim() == 2 && w.dense.size(0) == w.rows && w.dense.size(1) == w.cols &&
                 (w.dense.stride(1) == 1 || w.cols <= 1) && (w.rows <= 1 || w.dense.stride(0) >= w.cols),
             kOp, "a dense weight must be float32 [", w.rows, ", ", w.cols, "] with unit column stride on the CPU, got ",
             w.dense.scalar_type(), " ", w.dense.sizes(), " strides ", w.dense.strides());
  }
}

void check_matrix(const torch::Tensor& t, int64_t cols, const char* what) {
  ET_CHECK(t.is_cpu() && t.scalar_type() == torch::kFloat32 && t.dim() == 2 && t.size(1) == cols &&
               (t.stride(1) == 1 || t.size(1) <= 1) && (t.size(0) <= 1 || t.stride(0) >= std::max<int64_t>(1, cols)),
           kOp, what, " must be a float32 CPU matrix [M, ", cols, "] with unit column stride, got ", t.scalar_type(),
           " ", t.sizes(), " strides ", t.strides());
}

// Runs fn(m0, m1, n0, n1) on a split of [0, M) x [0, N) over the threads: columns when there are
// enough of them (each thread then decodes only its own part of the weight), else rows.
template <class F>
void split_work(int64_t M, int64_t N, F fn) {
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t flops = 2 * M * N;
  if (threads == 1 || flops < 2 * 65536 || at::in_parallel_region()) return fn(0, M, 0, N);
  const int64_t NR = cpu::kGemmNR, MR = cpu::kGemmMR;
  const bool by_cols = N >= threads * 4 * NR;
  const int64_t tasks = by_cols ? threads : std::min(threads, std::max<int64_t>(1, M / (4 * MR)));
  at::parallel_for(0, tasks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      if (by_cols) {
        const int64_t strips = (N + NR - 1) / NR;
        const int64_t n0 = std::min(N, strips * t / tasks * NR), n1 = std::min(N, strips * (t + 1) / tasks * NR);
        fn(0, M, n0, n1);
      } else {
        const int64_t panels = (M + MR - 1) / MR;
        const int64_t m0 = std::min(M, panels * t / tasks * MR), m1 = std::min(M, panels * (t + 1) / tasks * MR);
        fn(m0, m1, 0, N);
      }
    }
  });
}

}  // namespace

bool nf4_matmul_usable(const torch::Tensor& x, const MatmulWeight& w) {
  if (!x.is_cpu() || x.scalar_type() != torch::kFloat32) return false;
  if (w.packed.defined()) return w.packed.is_cpu();
  return w.dense.defined() && w.dense.is_cpu() && w.dense.scalar_type() == torch::kFloat32;
}

MatmulWeight dense_weight(const torch::Tensor& w) {
  ET_CHECK(w.dim() == 2, kOp, "a dense weight must be 2-D, got ", w.sizes());
  MatmulWeight m;
  m.dense = w;
  m.rows = w.size(0);
  m.cols = w.size(1);
  check_weight(m);
  return m;
}

namespace {

void terms_into(const std::vector<MatmulTerm>& terms, const torch::Tensor& bias, torch::Tensor& out, bool accumulate) {
  ET_CHECK(out.is_cpu() && out.scalar_type() == torch::kFloat32 && out.dim() == 2 &&
               (out.stride(1) == 1 || out.size(1) <= 1) &&
               (out.size(0) <= 1 || out.stride(0) >= std::max<int64_t>(1, out.size(1))),
           kOp, "the output must be a float32 CPU matrix with unit column stride, got ", out.scalar_type(), " ",
           out.sizes(), " strides ", out.strides());
  const int64_t M = out.size(0), N = out.size(1);
  std::vector<cpu::GemmTerm> ts;
  for (const MatmulTerm& t : terms) {
    check_weight(t.w);
    const int64_t K = t.weight_transposed ? t.w.cols : t.w.rows, n = t.weight_transposed ? t.w.rows : t.w.cols;
    ET_CHECK(n == N, kOp, "a term gives ", n, " columns, the output has ", N);
    if (t.x_transposed)
      check_matrix(t.x, M, "a transposed input");
    else
      check_matrix(t.x, K, "the input");
    ET_CHECK(t.x.size(0) == (t.x_transposed ? K : M), kOp, "the input ", t.x.sizes(), (t.x_transposed ? " (transposed)" : ""),
             " does not give [", M, ", ", K, "]");
    cpu::GemmTerm g;
    g.a = t.x.data_ptr<float>();
    g.lda = t.x.size(0) > 1 ? t.x.stride(0) : t.x.size(1);
    g.a_trans = t.x_transposed;
    g.w = view_of(t.w);
    g.op = t.weight_transposed ? cpu::WeightOp::xwt : cpu::WeightOp::dyw;
    ts.push_back(g);
  }
  if (bias.defined())
    ET_CHECK(bias.is_cpu() && bias.scalar_type() == torch::kFloat32 && bias.is_contiguous() && bias.numel() == N, kOp,
             "bias must be contiguous float32 [", N, "]");
  const float* b = bias.defined() ? bias.data_ptr<float>() : nullptr;
  float* c = out.data_ptr<float>();
  const int64_t ldc = M > 1 ? out.stride(0) : N;
  split_work(M, N, [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    cpu::weight_gemm_terms(ts.data(), static_cast<int>(ts.size()), m0, m1, n0, n1, b, accumulate, c, ldc);
  });
}

}  // namespace

void nf4_matmul_terms_into(const std::vector<MatmulTerm>& terms, const torch::Tensor& bias, torch::Tensor& out,
                           bool accumulate) {
  RECORD_FUNCTION("et::nf4_matmul_terms", std::vector<c10::IValue>());
  terms_into(terms, bias, out, accumulate);
}

void nf4_matmul_into(const torch::Tensor& x, const MatmulWeight& w, const torch::Tensor& bias, torch::Tensor& out) {
  RECORD_FUNCTION("et::nf4_matmul", std::vector<c10::IValue>());
  terms_into({MatmulTerm{x, false, w, true}}, bias, out, false);
}

void nf4_matmul_t_into(const torch::Tensor& dy, const MatmulWeight& w, torch::Tensor& out, bool accumulate) {
  RECORD_FUNCTION("et::nf4_matmul_t", std::vector<c10::IValue>());
  terms_into({MatmulTerm{dy, false, w, false}}, torch::Tensor(), out, accumulate);
}

namespace {

// The weight and the bias (not differentiable; an undefined tensor cannot be an input of a
// custom function on libtorch 1.13) travel outside the function's tensor inputs.
struct WeightHolder : torch::CustomClassHolder {
  WeightHolder(MatmulWeight w, torch::Tensor bias) : w(std::move(w)), bias(std::move(bias)) {}
  MatmulWeight w;
  torch::Tensor bias;
};

struct Nf4MatmulFn : torch::autograd::Function<Nf4MatmulFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               c10::intrusive_ptr<WeightHolder> holder) {
    const MatmulWeight& w = holder->w;
    const torch::Tensor x2 = x.reshape({-1, w.cols}).contiguous();
    torch::Tensor y = torch::empty({x2.size(0), w.rows}, x2.options());
    nf4_matmul_into(x2, w, holder->bias, y);
    ctx->saved_data["w"] = c10::IValue::make_capsule(holder);
    ctx->saved_data["xshape"] = x.sizes().vec();
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = w.rows;
    return y.view(shape);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto holder = c10::static_intrusive_pointer_cast<WeightHolder>(ctx->saved_data["w"].toCapsule());
    const MatmulWeight& w = holder->w;
    const torch::Tensor dy = grads[0].reshape({-1, w.rows}).to(torch::kFloat32).contiguous();
    torch::Tensor dx = torch::empty({dy.size(0), w.cols}, dy.options());
    nf4_matmul_t_into(dy, w, dx, false);
    return {dx.view(ctx->saved_data["xshape"].toIntVector()), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor nf4_matmul(const torch::Tensor& x, const MatmulWeight& w, const torch::Tensor& bias) {
  ET_CHECK(x.dim() >= 1 && x.size(-1) == w.cols, kOp, "the input has ", x.sizes(), ", the weight expects ", w.cols,
           " features");
  ET_CHECK(nf4_matmul_usable(x, w), kOp, "the CPU kernel takes float32 CPU inputs, got ", x.scalar_type(), " on ",
           x.device().str());
  return Nf4MatmulFn::apply(x, c10::make_intrusive<WeightHolder>(w, bias));
}

torch::Tensor nf4_dequantize_plain(const MatmulWeight& w, torch::ScalarType dtype) {
  if (!w.packed.defined()) return w.dense.to(dtype);
  const int64_t numel = w.rows * w.cols;
  const torch::Tensor bytes = w.packed.to(torch::kLong);
  // value 2j is the high nibble of byte j, value 2j + 1 the low one
  const torch::Tensor codes = torch::stack({bytes.floor_divide(16), bytes.remainder(16)}, 1).reshape({-1}).narrow(0, 0, numel);
  const torch::Tensor levels = w.code.to(dtype).index_select(0, codes);
  const torch::Tensor scale = w.scales.to(dtype).repeat_interleave(w.block).narrow(0, 0, numel);
  return (levels * scale).view({w.rows, w.cols});
}

torch::Tensor nf4_matmul_ref(const torch::Tensor& x, const MatmulWeight& w, const torch::Tensor& bias) {
  const torch::Tensor W = nf4_dequantize_plain(w, x.scalar_type()).to(x.device());
  torch::Tensor y = at::matmul(x, W.t());
  return bias.defined() ? y + bias.to(x.scalar_type()) : y;
}

}  // namespace et::ops
