// Reference RMSNorm loops (see rmsnorm_ref.h and the derivation in rmsnorm.cu).
#include "ops/rmsnorm/rmsnorm_ref.h"

#include <cmath>
#include <vector>

#include "edgetune/core/dtype.h"

namespace et::ops {

namespace {

// Eight running sums so the loops vectorize (float addition is not reassociated otherwise).
float sum_squares(const float* x, int64_t n) {
  float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += x[i + l] * x[i + l];
  for (; i < n; ++i) acc[0] += x[i] * x[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// sum_j dy_j * (w_j + offset) * (x_j * rs)
float gated_dot(const float* dy, const float* x, const float* w, float offset, float rs, int64_t n) {
  float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += dy[i + l] * (w[i + l] + offset) * (x[i + l] * rs);
  for (; i < n; ++i) acc[0] += dy[i] * (w[i] + offset) * (x[i] * rs);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

}  // namespace

void rmsnorm_forward_ref(const float* x, const float* w, int64_t rows, int64_t cols, float eps,
                         float offset, Precision precision, float* y, float* rstd) {
  const bool llama = offset == 0.f;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float rs = 1.0f / std::sqrt(sum_squares(xr, cols) / static_cast<float>(cols) + eps);
    if (rstd) rstd[r] = rs;
    if (precision == Precision::f32) {  // no rounding: the two formulas agree
      for (int64_t c = 0; c < cols; ++c) yr[c] = xr[c] * rs * (offset + w[c]);
      continue;
    }
    for (int64_t c = 0; c < cols; ++c) {
      const float xhat = xr[c] * rs;
      const float out = llama ? w[c] * round_to(xhat, precision) : xhat * (offset + w[c]);
      yr[c] = round_to(out, precision);
    }
  }
}

void rmsnorm_backward_ref(const float* dy, const float* x, const float* w, const float* rstd,
                          int64_t rows, int64_t cols, float offset, float* dx, float* dw) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const float* dyr = dy + r * cols;
    const float rs = rstd[r];
    const float mean_dot = gated_dot(dyr, xr, w, offset, rs, cols) / static_cast<float>(cols);
    if (dx) {
      float* dxr = dx + r * cols;
      for (int64_t c = 0; c < cols; ++c) dxr[c] = rs * (dyr[c] * (w[c] + offset) - (xr[c] * rs) * mean_dot);
    }
    if (dw)
      for (int64_t c = 0; c < cols; ++c) dw[c] += dyr[c] * (xr[c] * rs);
  }
}

namespace {

std::vector<float> widen(const uint16_t* p, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = bf16_to_f32(p[i]);
  return out;
}

}  // namespace

void rmsnorm_forward_ref_bf16(const uint16_t* x, const uint16_t* w, int64_t rows, int64_t cols,
                              float eps, float offset, uint16_t* y, float* rstd) {
  const std::vector<float> wf = widen(w, cols);
  std::vector<float> yf(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<float> xf = widen(x + r * cols, cols);
    rmsnorm_forward_ref(xf.data(), wf.data(), 1, cols, eps, offset, Precision::bf16, yf.data(),
                        rstd ? rstd + r : nullptr);
    for (int64_t c = 0; c < cols; ++c) y[r * cols + c] = f32_to_bf16(yf[static_cast<size_t>(c)]);
  }
}

void rmsnorm_backward_ref_bf16(const uint16_t* dy, const uint16_t* x, const uint16_t* w,
                               const float* rstd, int64_t rows, int64_t cols, float offset,
                               uint16_t* dx, float* dw) {
  const std::vector<float> wf = widen(w, cols);
  std::vector<float> dxf(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<float> xf = widen(x + r * cols, cols);
    const std::vector<float> dyf = widen(dy + r * cols, cols);
    rmsnorm_backward_ref(dyf.data(), xf.data(), wf.data(), rstd + r, 1, cols, offset, dxf.data(), dw);
    if (dx)
      for (int64_t c = 0; c < cols; ++c) dx[r * cols + c] = f32_to_bf16(dxf[static_cast<size_t>(c)]);
  }
}

}  // namespace et::ops
