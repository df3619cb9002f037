// The plan the adapter and export tests share: one of every kind on any model. Dedicated adapters
// of two ranks (k and down: rank 2, alpha 4; v above layer 0: rank 5, alpha 5), shared q (rank 3,
// alpha 6) and up (rank 6, alpha 3) with their per-matrix vectors, and no adapter on o, gate and
// layer 0's v.
#pragma once
#include "edgetune/adapt/plan.h"
#include "edgetune/model/model.h"

namespace et::test {

inline Plan mixed_plan(const model::Model& m, bool rslora = false) {
  Plan p = empty_plan(m, AdapterOptions{});
  p.policy = "gradcut";
  p.rslora = rslora;
  for (auto& e : p.entries) {
    if (e.type == "q_proj" || e.type == "up_proj") {
      e.kind = AdapterKind::shared;
      e.rank = e.type == "q_proj" ? 3 : 6;
      e.alpha = e.type == "q_proj" ? 6 : 3;
    } else if (e.type == "k_proj" || e.type == "down_proj") {
      e.kind = AdapterKind::dedicated;
      e.rank = 2;
      e.alpha = 4;
    } else if (e.type == "v_proj" && e.layer >= 1) {
      e.kind = AdapterKind::dedicated;
      e.rank = 5;
      e.alpha = 5;
    }
  }
  for (const char* t : {"q_proj", "up_proj"})
    for (const auto& e : p.entries)
      if (e.type == t) {
        p.shared.push_back({t, e.rank, e.alpha, e.in_features, e.out_features});
        break;
      }
  return p;
}

}  // namespace et::test
