// Warm-starting the adapters of a new plan from an old patch (see retrain.h).
#include <ATen/ATen.h>

#include <map>

#include "edgetune/core/error.h"
#include "edgetune/retune/retrain.h"

namespace et {

namespace {

const PlanEntry* entry_of(const Plan& p, const std::string& module) {
  for (const auto& e : p.entries)
    if (e.module == module) return &e;
  return nullptr;
}

// The old update s_old B_old A_old written into a dedicated pair (A: r x in, B: out x r, scale s):
// exactly when r >= the old rank, else its best rank-r approximation. Returns true when exact.
bool embed_update(LoraPair& to, const LoraPair& old) {
  const int64_t r = to.A.size(0), r_old = old.A.size(0);
  torch::Tensor A = to.A, B = to.B;
  if (r_old <= r) {
    A.slice(0, 0, r_old).copy_(old.A);
    B.zero_();
    B.slice(1, 0, r_old).copy_(old.B * (old.scale / to.scale));
    return true;
  }
  const torch::Tensor dW = old.B.to(torch::kFloat64).mm(old.A.to(torch::kFloat64)) * old.scale;
  auto [U, S, Vh] = at::linalg_svd(dW, /*full_matrices=*/false);
  const torch::Tensor root = (S.slice(0, 0, r) / to.scale).sqrt();  // s (U sqrt(S/s)) (sqrt(S/s) Vh) = U S Vh
  B.copy_(U.slice(1, 0, r) * root.unsqueeze(0));
  A.copy_(Vh.slice(0, 0, r) * root.unsqueeze(1));
  return false;
}

}  // namespace

WarmStartCounts warm_start_adapters(AdapterSet& fresh, const AdapterSet& old) {
  WarmStartCounts c;
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> old_tensors;
  for (const auto& kv : old.named_parameters()) old_tensors[kv.first] = kv.second.detach().to(torch::kFloat32);
  auto find = [&](const std::string& name) -> const torch::Tensor* {
    auto it = old_tensors.find(name);
    return it == old_tensors.end() ? nullptr : &it->second;
  };
  // Copies the old tensor `name` into `to` (in place: the leaf the optimizer updates) when the
  // shapes agree; returns whether it did.
  auto copy = [&](const torch::Tensor& to, const std::string& name) {
    const torch::Tensor* from = find(name);
    if (!from || from->sizes() != to.sizes()) return false;
    torch::Tensor(to).copy_(*from);
    return true;
  };
  std::map<std::string, bool> shared_copied;  // by type: both A_t and B_t came from the old patch
  for (auto& kv : fresh.shared) {
    const std::string n = "shared." + kv.first;
    const bool a = copy(kv.second.A, n + ".lora_A"), b = copy(kv.second.B, n + ".lora_B");
    c.copied += a + b;
    c.fresh += !a + !b;
    shared_copied[kv.first] = a && b;
  }
  for (const auto& e : fresh.plan.entries) {
    if (e.kind == AdapterKind::none) continue;
    const PlanEntry* o = entry_of(old.plan, e.module);
    const bool old_has = o && o->kind != AdapterKind::none;
    if (e.kind == AdapterKind::shared) {
      SharedVectors& v = fresh.vectors.at(e.module);
      if (old_has && o->kind == AdapterKind::shared && shared_copied[e.type] && copy(v.a, e.module + ".shared_a") &&
          copy(v.b, e.module + ".shared_b")) {
        c.copied += 2;
        continue;
      }
      // A trained shared adapter with fresh vectors (ones) would add its whole update to a matrix
      // the old patch left alone: b = 0 keeps this matrix's update at zero until it trains.
      if (shared_copied[e.type]) torch::Tensor(v.b).zero_();
      c.fresh += 2;
      continue;
    }
    LoraPair& to = fresh.dedicated.at(e.module);
    if (old_has && o->kind == AdapterKind::dedicated && old.dedicated.at(e.module).scale == to.scale &&
        copy(to.A, e.module + ".lora_A") && copy(to.B, e.module + ".lora_B")) {
      c.copied += 2;
      continue;
    }
    if (!old_has) {
      c.fresh += 2;
      continue;
    }
    LoraPair from = old.effective(e.module);
    from.A = from.A.detach().to(to.A.device(), torch::kFloat32);
    from.B = from.B.detach().to(to.B.device(), torch::kFloat32);
    if (embed_update(to, from))
      ++c.exact;
    else
      ++c.truncated;
  }
  return c;
}

}  // namespace et
