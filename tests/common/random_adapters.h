// Adapters of a plan with every tensor drawn from N(0, scale^2), attached to the model: tests of
// gradients need them random (a fresh B = 0 would make the A gradients vanish).
#pragma once
#include <torch/types.h>
#include <torch/utils.h>

#include "edgetune/adapt/adapters.h"
#include "edgetune/model/model.h"

namespace et::test {

inline AdapterSet attach_random_adapters(model::Model& m, const Plan& p, uint64_t seed, double scale = 0.3) {
  AdapterSet a = create_adapters(p, seed, torch::kCPU);
  torch::NoGradGuard g;
  for (auto& kv : a.named_parameters()) kv.second.copy_(torch::randn(kv.second.sizes()) * scale);
  attach_adapters(m, a);
  return a;
}

}  // namespace et::test
