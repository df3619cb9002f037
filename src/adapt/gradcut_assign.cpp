// GradCut plans: the all-shared calibration plan (phase 1) and the final assignment (phase 2).
#include <algorithm>
#include <cmath>
#include <map>

#include "edgetune/adapt/gradcut.h"
#include "edgetune/core/error.h"

namespace et {

Plan gradcut_calibration_plan(const Plan& targets, const GradCutOptions& o) {
  Plan p = targets;
  p.policy = "gradcut";
  p.shared.clear();
  for (auto& e : p.entries) {
    const SharedSpec* s = p.shared_of(e.type);
    if (!s) {
      p.shared.push_back({e.type, o.shared_rank, o.shared_alpha, e.in_features, e.out_features});
    } else if (s->in_features != e.in_features || s->out_features != e.out_features) {
      fail("gradcut", e.module, " is ", e.out_features, "x", e.in_features, " but other ", e.type, " matrices are ",
           s->out_features, "x", s->in_features, "; a shared adapter needs one shape per module type");
    }
    e.kind = AdapterKind::shared;
    e.rank = o.shared_rank;
    e.alpha = o.shared_alpha;
  }
  return p;
}

Plan gradcut_assign(const Plan& calibrated, const GradCutOptions& o) {
  Plan p = calibrated;
  p.policy = "gradcut";
  gradcut_score(p, o);
  std::map<std::string, std::vector<size_t>> survivors;
  for (size_t i = 0; i < p.entries.size(); ++i)
    if (p.entries[i].kind != AdapterKind::none) survivors[p.entries[i].type].push_back(i);
  for (const auto& kv : survivors) {
    std::vector<double> imp;
    for (size_t i : kv.second) imp.push_back(p.entries[i].importance);
    const std::vector<double> n = min_max(imp);
    double mean = 0, var = 0;
    for (double v : n) mean += v;
    mean /= static_cast<double>(n.size());
    for (double v : n) var += (v - mean) * (v - mean);
    const double threshold = mean + o.threshold * std::sqrt(var / static_cast<double>(n.size()));
    for (size_t k = 0; k < kv.second.size(); ++k) {
      PlanEntry& e = p.entries[kv.second[k]];
      // T < 0 reaches below the mean, and an equal importance at the threshold is in: with a single
      // survivor (or equal ones, std 0) a negative T makes them dedicated.
      if (n[k] > threshold || (o.threshold < 0 && n[k] >= threshold)) {
        e.kind = AdapterKind::dedicated;
        e.rank = o.dedicated_rank;
        e.alpha = o.dedicated_alpha;
      } else {
        e.kind = AdapterKind::shared;
        e.rank = o.shared_rank;
        e.alpha = o.shared_alpha;
      }
    }
  }
  std::vector<SharedSpec> shared;
  for (const auto& s : p.shared) {
    bool used = false;
    for (const auto& e : p.entries) used = used || (e.kind == AdapterKind::shared && e.type == s.type);
    if (used) shared.push_back({s.type, o.shared_rank, o.shared_alpha, s.in_features, s.out_features});
  }
  p.shared = shared;
  return p;
}

int gradcut_warmup_steps(const GradCutOptions& o, int max_steps) {
  if (o.warmup_fraction <= 0) return 0;
  return std::max(1, static_cast<int>(std::lround(o.warmup_fraction * max_steps)));
}

void gradcut_add_warmup(Plan& plan, int steps, int rank, double alpha) {
  ET_CHECK(steps >= 0 && rank > 0 && alpha > 0, "gradcut", "warm-up adapters need steps >= 0, rank and alpha > 0 (got ",
           steps, ", ", rank, ", ", alpha, ")");
  const int cut = plan.cut_layer();
  if (steps == 0 || cut >= plan.num_layers) return;  // no survivor: nothing would train after the warm-up
  for (auto& e : plan.entries) {
    if (e.layer >= cut || e.kind != AdapterKind::none) continue;
    e.kind = AdapterKind::dedicated;
    e.rank = rank;
    e.alpha = alpha;
    e.train_steps = steps;
  }
}

}  // namespace et
