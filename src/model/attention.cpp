// Attention masks and the two attention implementations (see attention.h).
#include "edgetune/model/attention.h"

#include <torch/version.h>

#include <limits>

#include "edgetune/core/error.h"

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define ET_HAVE_SDPA 1
#else
#define ET_HAVE_SDPA 0
#endif

namespace et::model {

bool sdpa_available() { return ET_HAVE_SDPA != 0; }

AttentionMask make_attention_mask(int64_t q_offset, int64_t q_len, int64_t k_len, int64_t window,
                                  const torch::Tensor& segment_ids, torch::Device device) {
  ET_CHECK(q_offset >= 0 && q_len > 0 && k_len == q_offset + q_len, "attention",
           "queries [", q_offset, ", ", q_offset + q_len, ") do not end at the last of ", k_len, " keys");
  const bool segmented = segment_ids.defined();
  if (segmented)
    ET_CHECK(q_offset == 0 && segment_ids.dim() == 2 && segment_ids.size(1) == q_len, "attention",
             "segment ids must be [batch, ", q_len, "] and cannot be combined with a KV cache");
  // The window bites only when some query is `window` or more tokens after a key.
  const bool window_bites = window > 0 && k_len - 1 >= window;
  // Plain causal (T == S) or a single query at the end: no mask tensor needed.
  if (!segmented && !window_bites && (q_offset == 0 || q_len == 1))
    return {torch::Tensor(), /*causal=*/q_len > 1};

  auto opts = torch::TensorOptions().dtype(torch::kInt64).device(device);
  torch::Tensor qi = torch::arange(q_offset, q_offset + q_len, opts).unsqueeze(1);  // [T, 1]
  torch::Tensor kj = torch::arange(0, k_len, opts).unsqueeze(0);                     // [1, S]
  torch::Tensor allowed = kj <= qi;
  if (window_bites) allowed = allowed.logical_and(kj > qi - window);
  allowed = allowed.unsqueeze(0);  // [1, T, S]
  if (segmented) {
    torch::Tensor seg = segment_ids.to(device);
    allowed = allowed.logical_and(seg.unsqueeze(2) == seg.unsqueeze(1));  // [B, T, S]
  }
  return {allowed.unsqueeze(1), false};
}

namespace {

torch::Tensor repeat_kv(const torch::Tensor& x, int64_t rep) {
  if (rep == 1) return x;
  const auto b = x.size(0), h = x.size(1), s = x.size(2), d = x.size(3);
  return x.unsqueeze(2).expand({b, h, rep, s, d}).reshape({b, h * rep, s, d});
}

torch::Tensor explicit_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                 const AttentionMask& m, double scale, double softcap) {
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
  if (softcap > 0) scores = torch::tanh(scores / softcap) * softcap;
  torch::Tensor mask = m.mask;
  if (!mask.defined() && m.causal) {
    const int64_t t = q.size(2), s = k.size(2);
    ET_CHECK(t == s, "attention", "a causal flag needs as many queries as keys, got ", t, " and ", s);
    mask = torch::ones({t, s}, torch::TensorOptions().dtype(torch::kBool).device(q.device())).tril();
  }
  if (mask.defined()) scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
  torch::Tensor probs = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());
  return torch::matmul(probs, v);
}

}  // namespace

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const AttentionMask& mask, double scale, double softcap, AttentionImpl impl) {
  ET_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention", "q, k, v must be 4-D");
  ET_CHECK(q.size(1) % k.size(1) == 0, "attention", q.size(1), " query heads is not a multiple of ",
           k.size(1), " key/value heads");
  const int64_t rep = q.size(1) / k.size(1);
  torch::Tensor kr = repeat_kv(k, rep), vr = repeat_kv(v, rep);
  if (impl == AttentionImpl::sdpa) {
    ET_CHECK(sdpa_available(), "attention", "scaled_dot_product_attention needs libtorch >= 2.1, this is ",
             TORCH_VERSION_MAJOR, ".", TORCH_VERSION_MINOR);
    ET_CHECK(softcap <= 0, "attention", "scaled_dot_product_attention cannot apply logit softcapping");
  }
  const bool use_sdpa = sdpa_available() && softcap <= 0 && impl != AttentionImpl::explicit_softmax;
#if ET_HAVE_SDPA
  if (use_sdpa) {
    if (mask.mask.defined())
      return at::scaled_dot_product_attention(q, kr, vr, mask.mask, 0.0, false, scale);
    return at::scaled_dot_product_attention(q, kr, vr, {}, 0.0, mask.causal, scale);
  }
#else
  (void)use_sdpa;
#endif
  return explicit_attention(q, kr, vr, mask, scale, softcap);
}

}  // namespace et::model
