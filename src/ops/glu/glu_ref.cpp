// Reference loops of the gated activation (see glu_ref.h; derivation in glu.cu). The
// activations use torch's formulas: silu(g) = g / (1 + exp(-g)),
// gelu_tanh(g) = 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))).
#include "ops/glu/glu_ref.h"

#include <cmath>

namespace et::ops {

namespace {
constexpr float kBeta = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kKappa = 0.044715f;
}  // namespace

float glu_act(float g, GluActivation act) {
  if (act == GluActivation::silu) return g / (1.0f + std::exp(-g));
  const float inner = kBeta * (g + kKappa * g * g * g);
  return 0.5f * g * (1.0f + std::tanh(inner));
}

float glu_act_grad(float g, GluActivation act) {
  if (act == GluActivation::silu) {
    const float s = 1.0f / (1.0f + std::exp(-g));
    return s * (1.0f + g * (1.0f - s));
  }
  const float t = std::tanh(kBeta * (g + kKappa * g * g * g));
  return 0.5f * (1.0f + t) + 0.5f * g * (1.0f - t * t) * kBeta * (1.0f + 3.0f * kKappa * g * g);
}

void glu_forward_ref(const float* gate, const float* up, int64_t n, GluActivation act,
                     Precision precision, float* y) {
  for (int64_t i = 0; i < n; ++i)
    y[i] = round_to(round_to(glu_act(gate[i], act), precision) * up[i], precision);
}

void glu_backward_ref(const float* dy, const float* gate, const float* up, int64_t n,
                      GluActivation act, float* dgate, float* dup) {
  for (int64_t i = 0; i < n; ++i) {
    if (dgate) dgate[i] = dy[i] * up[i] * glu_act_grad(gate[i], act);
    if (dup) dup[i] = dy[i] * glu_act(gate[i], act);
  }
}

}  // namespace et::ops
