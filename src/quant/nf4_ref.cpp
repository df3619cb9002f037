// Reference loops of bitsandbytes' blockwise quantizers (kQuantizeBlockwise for NF4 and for the
// 8-bit dynamic map). Each block: absmax = max |x| over its valid values, r = 1.0f / absmax,
// code of x * r; padding of a partial block counts as 0. An all-zero block has r = inf and
// 0 * inf = NaN, for which both code pickers return index 0, exactly as on the GPU.
#include "edgetune/quant/nf4_ref.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "edgetune/quant/nf4_codebook.h"

namespace et::quant {

namespace {

// max |x|. Inputs are finite, so a plain compare gives what fmaxf gives; eight running maxima
// break the dependency chain (max is exact, the order does not change the result).
float block_absmax(const float* x, int64_t len) {
  float m[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int64_t i = 0;
  for (; i + 8 <= len; i += 8)
    for (int l = 0; l < 8; ++l) {
      const float v = std::fabs(x[i + l]);
      m[l] = v > m[l] ? v : m[l];
    }
  for (; i < len; ++i) {
    const float v = std::fabs(x[i]);
    m[0] = v > m[0] ? v : m[0];
  }
  float r = 0.f;
  for (float v : m) r = v > r ? v : r;
  return r;
}

}  // namespace

void nf4_quantize_ref(const float* x, int64_t n, uint8_t* packed, float* absmax) {
  const int64_t block = 64;
  const std::array<float, 15>& t = nf4_thresholds();
  for (int64_t b = 0; b * block < n; ++b) {
    const float* xb = x + b * block;
    const int64_t len = std::min(block, n - b * block);
    const float a = block_absmax(xb, len);
    absmax[b] = a;
    const float r = 1.0f / a;
    // nf4_index for the whole block, thresholds outermost so the compiler vectorizes over values.
    float s[64];
    int32_t q[64];
    for (int64_t j = 0; j < len; ++j) s[j] = xb[j] * r;
    for (int64_t j = len; j < block; ++j) s[j] = 0.f * r;  // padding (NaN when r is inf)
    for (int64_t j = 0; j < block; ++j) q[j] = 0;
    for (int k = 0; k < 15; ++k)
      for (int64_t j = 0; j < block; ++j) q[j] += s[j] > t[k] ? 1 : 0;
    uint8_t* out = packed + b * block / 2;
    for (int64_t j = 0; j < len; j += 2) out[j / 2] = static_cast<uint8_t>((q[j] << 4) | q[j + 1]);
  }
}

void quantize_blockwise8_ref(const float* x, int64_t n, int64_t blocksize, const float* code,
                             uint8_t* q, float* absmax) {
  for (int64_t b = 0; b * blocksize < n; ++b) {
    const float* xb = x + b * blocksize;
    const int64_t len = std::min(blocksize, n - b * blocksize);
    const float a = block_absmax(xb, len);
    absmax[b] = a;
    const float r = 1.0f / a;
    for (int64_t j = 0; j < len; ++j) q[b * blocksize + j] = dynamic_index(code, xb[j] * r);
  }
}

}  // namespace et::quant
