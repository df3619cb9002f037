// The flash path of varlen attention: libtorch's FlashAttention-2 kernels
// (aten::_flash_attention_forward / _flash_attention_backward, variable-length form) wrapped in an
// autograd function. The operators are called through the dispatcher with their arguments looked
// up by name in the registered schema, so argument names or defaults that differ between libtorch
// versions (rng_state / philox_seed, new optional arguments) do not break the build.
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/csrc/autograd/custom_function.h>

#include <atomic>
#include <map>
#include <optional>
#include <string>

#include "edgetune/core/error.h"
#include "ops/varlen_attention/varlen_attention.h"

namespace et::ops::detail {

namespace {

using Named = std::map<std::string, c10::IValue>;

// The two operators, looked up once (thread-safe: backward runs on autograd's threads).
struct AttentionOps {
  std::map<std::string, std::optional<c10::OperatorHandle>> ops;
};
const AttentionOps& attention_ops() {
  static const AttentionOps a = [] {
    AttentionOps r;
    for (const char* n : {"aten::_flash_attention_forward", "aten::_flash_attention_backward",
                          "aten::_scaled_dot_product_cudnn_attention"})
      r.ops[n] = c10::Dispatcher::singleton().findSchema({n, ""});
    return r;
  }();
  return a;
}
const c10::OperatorHandle* find_op(const char* name) {
  const auto& m = attention_ops().ops;
  auto it = m.find(name);
  return it != m.end() && it->second ? &*it->second : nullptr;
}

torch::Tensor tensor_of(const c10::IValue& v) { return v.isTensor() ? v.toTensor() : torch::Tensor(); }

// Calls `name` with the named arguments (aliases: a name may be given as "a|b"); arguments not
// given take their schema defaults. Returns the outputs.
std::vector<c10::IValue> call_by_name(const char* name, const Named& args) {
  const c10::OperatorHandle* op = find_op(name);
  ET_CHECK(op, "varlen_attention", "this libtorch has no operator ", name);
  std::vector<c10::IValue> stack;
  for (const c10::Argument& a : op->schema().arguments()) {
    const c10::IValue* v = nullptr;
    for (const auto& kv : args) {
      size_t b = 0;
      while (b <= kv.first.size()) {
        size_t e = kv.first.find('|', b);
        if (e == std::string::npos) e = kv.first.size();
        if (kv.first.compare(b, e - b, a.name()) == 0) v = &kv.second;
        b = e + 1;
      }
    }
    if (v) {
      stack.push_back(*v);
    } else if (a.default_value()) {
      stack.push_back(*a.default_value());
    } else {
      fail("varlen_attention", name, ": no value for its argument '", a.name(), "' (schema ", op->schema(), ")");
    }
  }
  op->callBoxed(&stack);
  return stack;
}

c10::IValue window_left(int64_t window) { return window > 0 ? c10::IValue(window - 1) : c10::IValue(); }
c10::IValue window_right(int64_t window) { return window > 0 ? c10::IValue(int64_t{0}) : c10::IValue(); }

struct FlashVarlen : torch::autograd::Function<FlashVarlen> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const torch::Tensor& cu, int64_t max_len, double scale,
                               int64_t window) {
    c10::cuda::CUDAGuard guard(q.device());
    const torch::Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
    auto out = call_by_name("aten::_flash_attention_forward",
                            {{"query", qc}, {"key", kc}, {"value", vc}, {"cum_seq_q", cu}, {"cum_seq_k", cu},
                             {"max_q", max_len}, {"max_k", max_len}, {"dropout_p", 0.0}, {"is_causal", true},
                             {"return_debug_mask", false}, {"scale", scale},
                             {"window_size_left", window_left(window)}, {"window_size_right", window_right(window)}});
    ET_CHECK(out.size() >= 4, "varlen_attention", "_flash_attention_forward returned ", out.size(), " values");
    const torch::Tensor o = out[0].toTensor();
    ctx->save_for_backward({qc, kc, vc, o, tensor_of(out[1]), cu, tensor_of(out[2]), tensor_of(out[3])});
    ctx->saved_data["max_len"] = max_len;
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["window"] = window;
    return o;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto s = ctx->get_saved_variables();
    c10::cuda::CUDAGuard guard(s[0].device());
    const int64_t max_len = ctx->saved_data["max_len"].toInt(), window = ctx->saved_data["window"].toInt();
    auto g = call_by_name("aten::_flash_attention_backward",
                          {{"grad_out", grads[0].contiguous()}, {"query", s[0]}, {"key", s[1]}, {"value", s[2]},
                           {"out", s[3]}, {"logsumexp", s[4]}, {"cum_seq_q", s[5]}, {"cum_seq_k", s[5]},
                           {"max_q", max_len}, {"max_k", max_len}, {"dropout_p", 0.0}, {"is_causal", true},
                           {"rng_state|philox_seed", s[6]}, {"unused|philox_offset", s[7]},
                           {"scale", ctx->saved_data["scale"].toDouble()},
                           {"window_size_left", window_left(window)}, {"window_size_right", window_right(window)}});
    ET_CHECK(g.size() >= 3, "varlen_attention", "_flash_attention_backward returned ", g.size(), " values");
    return {tensor_of(g[0]), tensor_of(g[1]), tensor_of(g[2]), torch::Tensor(), torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }
};

// cuDNN's fused attention over dense rows, [rows, heads, len, head_dim] views of the packed
// tensors. The operator carries its own derivative (aten::_scaled_dot_product_cudnn_attention_backward),
// so the boxed call is recorded by autograd like any other. Grouped-query heads are passed as they
// are when the operator takes them; a libtorch whose cuDNN path wants equal head counts rejects
// them, and the key/value heads are then repeated (remembered, so the rejection happens once). When
// cuDNN refuses the call altogether, an undefined tensor comes back and the caller runs flash.
torch::Tensor cudnn_dense_call(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               double scale) {
  auto out = call_by_name("aten::_scaled_dot_product_cudnn_attention",
                          {{"query", q}, {"key", k}, {"value", v}, {"attn_bias", c10::IValue()},
                           {"compute_log_sumexp", q.requires_grad() || k.requires_grad() || v.requires_grad()},
                           {"dropout_p", 0.0}, {"is_causal", true}, {"return_debug_mask", false}, {"scale", scale}});
  ET_CHECK(!out.empty() && out[0].isTensor(), "varlen_attention", "_scaled_dot_product_cudnn_attention returned no output");
  return out[0].toTensor();
}

}  // namespace

bool cudnn_dense_registered() { return find_op("aten::_scaled_dot_product_cudnn_attention") != nullptr; }

torch::Tensor dense_attention_cudnn(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                    int64_t rows, double scale) {
  c10::cuda::CUDAGuard guard(q.device());
  ET_CHECK(rows > 0 && q.size(0) % rows == 0, "varlen_attention", q.size(0), " tokens do not split into ", rows,
           " rows");
  const int64_t len = q.size(0) / rows, hq = q.size(1), hkv = k.size(1), d = q.size(2);
  auto rows_view = [&](const torch::Tensor& t) { return t.view({rows, len, t.size(1), d}).transpose(1, 2); };
  static std::atomic<bool> repeat_heads{false}, refused{false};
  if (refused.load()) return {};
  torch::Tensor o;
  try {
    if (hq != hkv && !repeat_heads.load()) {
      try {
        o = cudnn_dense_call(rows_view(q), rows_view(k), rows_view(v), scale);
      } catch (const std::exception&) {
        repeat_heads = true;
      }
    }
    if (!o.defined()) {
      const int64_t rep = hq / hkv;
      const torch::Tensor kk = rep > 1 ? k.repeat_interleave(rep, 1) : k, vv = rep > 1 ? v.repeat_interleave(rep, 1) : v;
      o = cudnn_dense_call(rows_view(q), rows_view(kk), rows_view(vv), scale);
    }
  } catch (const std::exception&) {
    refused = true;  // e.g. a head size this cuDNN does not take: the flash kernel runs instead
    return {};
  }
  return o.transpose(1, 2).reshape({rows * len, hq, d});
}

bool flash_varlen_registered() {
  return find_op("aten::_flash_attention_forward") && find_op("aten::_flash_attention_backward");
}

torch::Tensor varlen_attention_flash(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                     const VarlenSeqs& seqs, double scale, int64_t window) {
  ET_CHECK(seqs.cu_seqlens.defined() && seqs.cu_seqlens.device() == q.device(), "varlen_attention",
           "the sequence offsets must be on ", q.device().str());
  return FlashVarlen::apply(q, k, v, seqs.cu_seqlens, seqs.max_len, scale, window);
}

}  // namespace et::ops::detail
