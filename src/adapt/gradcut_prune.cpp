// GradCut phase 1 bookkeeping: keep counts, the prune schedule and one prune of the
// lowest-scoring survivors per module type.
#include <algorithm>
#include <cmath>

#include "edgetune/adapt/gradcut.h"
#include "edgetune/core/error.h"

namespace et {

namespace {
bool is_attention(const std::string& type) {
  return type == "q_proj" || type == "k_proj" || type == "v_proj" || type == "o_proj";
}
}  // namespace

int gradcut_keep_count(const std::string& type, int count, const GradCutOptions& o) {
  const double fraction = is_attention(type) ? o.keep_attention : o.keep_mlp;
  // Halves up; the small epsilon absorbs 14/24 * 24 = 14.000000000000002 style noise both ways.
  const int keep = static_cast<int>(std::floor(fraction * count + 0.5 + 1e-9));
  return std::max(1, std::min(count, keep));
}

bool gradcut_prunes_after(int step, const GradCutOptions& o) {
  if (step < o.initial_full_steps) return false;
  return (step - o.initial_full_steps) % o.prune_interval == 0;
}

std::map<std::string, int> gradcut_keep_counts(const Plan& plan, const GradCutOptions& o) {
  std::map<std::string, int> count;
  for (const auto& e : plan.entries) ++count[e.type];
  std::map<std::string, int> keep;
  for (const auto& kv : count) keep[kv.first] = gradcut_keep_count(kv.first, kv.second, o);
  return keep;
}

int gradcut_floor_layer(const Plan& plan, const GradCutOptions& o) {
  std::map<std::string, std::vector<int>> layers;
  for (const auto& e : plan.entries) layers[e.type].push_back(e.layer);
  int floor = plan.num_layers;
  for (auto& kv : layers) {
    std::sort(kv.second.rbegin(), kv.second.rend());
    const int keep = gradcut_keep_count(kv.first, static_cast<int>(kv.second.size()), o);
    floor = std::min(floor, kv.second[static_cast<size_t>(keep - 1)]);
  }
  return floor == plan.num_layers ? 0 : floor;
}

int gradcut_calibration_steps(const Plan& plan, const GradCutOptions& o) {
  if (o.calibration_steps > 0) return o.calibration_steps;
  std::map<std::string, int> count;
  for (const auto& e : plan.entries) ++count[e.type];
  const auto keep = gradcut_keep_counts(plan, o);
  int events = 0;
  for (const auto& kv : count) {
    const int excess = kv.second - keep.at(kv.first);
    if (excess > 0 && o.prune_step > 0) events = std::max(events, (excess + o.prune_step - 1) / o.prune_step);
  }
  if (events == 0) return o.initial_full_steps;
  return o.initial_full_steps + (events - 1) * o.prune_interval;
}

std::vector<std::string> gradcut_prune(Plan& plan, const GradCutOptions& o, const std::map<std::string, int>& keep,
                                       int max_per_type) {
  gradcut_score(plan, o);
  std::map<std::string, std::vector<size_t>> survivors;
  for (size_t i = 0; i < plan.entries.size(); ++i)
    if (plan.entries[i].kind != AdapterKind::none) survivors[plan.entries[i].type].push_back(i);
  std::vector<size_t> pruned;
  for (auto& kv : survivors) {
    auto it = keep.find(kv.first);
    ET_CHECK(it != keep.end(), "gradcut", "no keep count for module type ", kv.first);
    int n = static_cast<int>(kv.second.size()) - it->second;
    if (max_per_type >= 0) n = std::min(n, max_per_type);
    if (n <= 0) continue;
    std::vector<size_t>& idx = kv.second;
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
      const PlanEntry &ea = plan.entries[a], &eb = plan.entries[b];
      if (ea.score != eb.score) return ea.score < eb.score;
      return ea.layer < eb.layer;
    });
    pruned.insert(pruned.end(), idx.begin(), idx.begin() + n);
  }
  std::sort(pruned.begin(), pruned.end());
  std::vector<std::string> names;
  for (size_t i : pruned) {
    PlanEntry& e = plan.entries[i];
    e.kind = AdapterKind::none;
    e.rank = 0;
    e.alpha = 0;
    names.push_back(e.module);
  }
  return names;
}

}  // namespace et
