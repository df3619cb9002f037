// NF4 quantization of a whole tensor on the CPU: the 64-blocks are independent and byte-aligned,
// so ranges of blocks go to the reference loop on all threads; then the absmax vector is
// double-quantized as bitsandbytes' quantize_4bit(compress_statistics=True) does:
//   offset = absmax.mean(); absmax_q, absmax2 = quantize_blockwise(absmax - offset, blocksize=256)
// One deliberate difference: bitsandbytes takes torch's float32 mean, whose last bit depends on
// the device and on how many threads share the sum. We sum in double in a fixed order and round
// the mean once, which gives the correctly rounded mean (what torch's mean gives too, except in
// rare last-bit cases) and makes the same weights always quantize to the same bytes. Given the
// stored offset, dequantization is bit-exact with bitsandbytes either way.

#include <atomic>
#include <cmath>

#include "ops/common/parallel.h"
#include "edgetune/core/error.h"
#include "edgetune/quant/nf4.h"
#include "edgetune/quant/nf4_codebook.h"
#include "edgetune/quant/nf4_ref.h"

namespace et::quant {

namespace {

std::string shape_string(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

// x * 0 is 0 for finite x and NaN for NaN or +-inf; eight lanes keep the loop vectorized.
bool all_finite(const float* x, int64_t n) {
  float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += x[i + l] * 0.f;
  for (; i < n; ++i) acc[0] += x[i] * 0.f;
  bool ok = true;
  for (float a : acc) ok = ok && a == 0.f;
  return ok;
}

}  // namespace

Nf4Weight nf4_quantize(const torch::Tensor& w, const std::string& name) {
  const char* where = "nf4_quantize";
  ET_CHECK(w.defined(), where, "tensor '", name, "' is undefined");
  const auto st = w.scalar_type();
  ET_CHECK(st == torch::kFloat32 || st == torch::kBFloat16 || st == torch::kFloat16, where,
           "tensor '", name, "' has dtype ", c10::toString(st),
           "; only float32, bfloat16 and float16 can be quantized");
  ET_CHECK(w.numel() > 0, where, "tensor '", name, "' ", shape_string(w), " is empty");

  torch::Tensor x = w.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t n = x.numel();
  const int64_t blocks = (n + Nf4Weight::kBlock - 1) / Nf4Weight::kBlock;
  torch::Tensor packed = torch::empty({(n + 1) / 2}, torch::kUInt8);
  torch::Tensor absmax = torch::empty({blocks}, torch::kFloat32);
  const float* xp = x.data_ptr<float>();
  uint8_t* pp = packed.data_ptr<uint8_t>();
  float* ap = absmax.data_ptr<float>();

  std::atomic<int64_t> first_bad{n};
  at::parallel_for(0, blocks, /*grain_size=*/256, [&](int64_t b0, int64_t b1) {
    const int64_t begin = b0 * Nf4Weight::kBlock;
    const int64_t end = std::min(n, b1 * Nf4Weight::kBlock);
    if (!all_finite(xp + begin, end - begin)) {
      int64_t i = begin;
      while (std::isfinite(xp[i])) ++i;
      int64_t seen = first_bad.load();
      while (i < seen && !first_bad.compare_exchange_weak(seen, i)) {
      }
      return;
    }
    nf4_quantize_ref(xp + begin, end - begin, pp + b0 * Nf4Weight::kBytesPerBlock, ap + b0);
  });
  if (first_bad.load() < n) {
    const int64_t i = first_bad.load();
    et::fail(where, "tensor '", name, "' ", shape_string(w), " has a non-finite value (", xp[i],
             ") at flat index ", i, "; refusing to quantize it");
  }

  Nf4Weight q;
  double sum = 0;
  for (int64_t b = 0; b < blocks; ++b) sum += ap[b];
  q.offset = static_cast<float>(sum / static_cast<double>(blocks));
  torch::Tensor centered = torch::empty({blocks}, torch::kFloat32);
  float* cp = centered.data_ptr<float>();
  for (int64_t b = 0; b < blocks; ++b) cp[b] = ap[b] - q.offset;
  q.numel = n;
  q.shape = w.sizes().vec();
  q.name = name;
  q.packed = packed;
  q.absmax_q = torch::empty({blocks}, torch::kUInt8);
  q.absmax2 = torch::empty({q.num_absmax_blocks()}, torch::kFloat32);
  q.code8 = torch::empty({256}, torch::kFloat32);
  std::copy(dynamic_map_signed().begin(), dynamic_map_signed().end(), q.code8.data_ptr<float>());
  quantize_blockwise8_ref(cp, blocks, Nf4Weight::kAbsmaxBlock,
                          q.code8.data_ptr<float>(), q.absmax_q.data_ptr<uint8_t>(),
                          q.absmax2.data_ptr<float>());
  return q;
}

}  // namespace et::quant
