// GradCut scores: min-max normalization per module type and S = w_I mm(I) - w_C mm(C).
#include <algorithm>
#include <map>

#include "edgetune/adapt/gradcut.h"

namespace et {

std::vector<double> min_max(const std::vector<double>& x) {
  std::vector<double> out(x.size(), 0.0);
  if (x.empty()) return out;
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  const double range = *hi - *lo;
  if (!(range > 0)) return out;
  for (size_t i = 0; i < x.size(); ++i) out[i] = (x[i] - *lo) / range;
  return out;
}

void gradcut_score(Plan& plan, const GradCutOptions& o) {
  std::map<std::string, std::vector<size_t>> by_type;  // surviving entries per type
  for (size_t i = 0; i < plan.entries.size(); ++i)
    if (plan.entries[i].kind != AdapterKind::none) by_type[plan.entries[i].type].push_back(i);
  for (const auto& kv : by_type) {
    std::vector<double> imp, cost;
    for (size_t i : kv.second) {
      imp.push_back(plan.entries[i].importance);
      cost.push_back(plan.entries[i].cost);
    }
    const std::vector<double> ni = min_max(imp), nc = min_max(cost);
    for (size_t k = 0; k < kv.second.size(); ++k)
      plan.entries[kv.second[k]].score = o.w_importance * ni[k] - o.w_cost * nc[k];
  }
}

}  // namespace et
