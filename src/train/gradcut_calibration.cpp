// GradCut calibration: train the shared adapters and their per-matrix vectors, prune on schedule,
// then assign dedicated / shared / none (gradcut_calibration.h).
#include "edgetune/train/gradcut_calibration.h"

#include <chrono>

#include "edgetune/adapt/gradcut.h"
#include "edgetune/core/error.h"
#include "edgetune/core/log.h"
#include "edgetune/core/progress.h"
#include "edgetune/train/causal_lm_loss.h"
#include "edgetune/train/trainer.h"

namespace et {

namespace {

// I_m = ||a_m|| + ||b_m|| for every surviving (shared) entry.
void read_importances(Plan& plan, const AdapterSet& adapters) {
  torch::NoGradGuard no_grad;
  for (auto& e : plan.entries) {
    if (e.kind == AdapterKind::none) continue;
    const SharedVectors& v = adapters.vectors.at(e.module);
    e.importance = v.a.to(torch::kFloat64).norm().item<double>() + v.b.to(torch::kFloat64).norm().item<double>();
  }
}

// Removes the adapters of pruned entries from the set and re-attaches the survivors.
void drop_pruned(TrainSession& s, const Plan& plan, const std::vector<std::string>& pruned) {
  for (const auto& m : pruned) s.adapters.vectors.erase(m);
  s.adapters.plan = plan;
  s.plan = plan;
  attach_adapters(s.model, s.adapters);
}

}  // namespace

CostShape session_cost_shape(const TrainSession& s) {
  int64_t tokens = 0, targets = 0;
  for (const auto& ex : s.train_examples) {
    tokens += static_cast<int64_t>(ex.ids.size());
    targets += ex.num_targets();
  }
  const int64_t n = static_cast<int64_t>(s.train_examples.size());
  const int64_t seq = s.recipe.data.pack || n == 0 ? s.recipe.data.max_seq_len : std::max<int64_t>(1, tokens / n);
  const double fraction = tokens > 0 ? static_cast<double>(targets) / static_cast<double>(tokens) : 1.0;
  return cost_shape(s.model.config, seq, static_cast<int64_t>(c10::elementSize(s.model.dtype)), fraction);
}

Plan gradcut_plan(TrainSession& s, GradCutReport* report) {
  const Recipe& R = s.recipe;
  const GradCutOptions& g = R.adapters.gradcut;
  ET_CHECK(!s.full, "gradcut", "adapters.policy full trains every weight; GradCut plans adapters");
  ET_CHECK(!s.train_examples.empty(), "gradcut", "the calibration needs training examples (data.train)");
  const auto t0 = std::chrono::steady_clock::now();

  Plan plan = gradcut_calibration_plan(empty_plan(s.model, R.adapters), g);
  ET_CHECK(!plan.entries.empty(), "gradcut", "adapters.targets selects no matrix of the model");
  const CostShape shape = session_cost_shape(s);
  const std::vector<double> costs = gradcut_costs(plan, shape, g.cost, gradcut_floor_layer(plan, g));
  for (size_t i = 0; i < plan.entries.size(); ++i) plan.entries[i].cost = costs[i];
  const auto keep = gradcut_keep_counts(plan, g);
  const int steps = gradcut_calibration_steps(plan, g);
  log_info("gradcut: calibrating ", plan.entries.size(), " matrices with shared rank ", g.shared_rank, " for ", steps,
           " steps (", g.cost, " cost model)");

  apply_plan(s, plan);
  AdamW opt(s.params, {R.train.beta1, R.train.beta2, R.train.adam_eps, R.train.weight_decay});
  BatchStream stream(s.train_examples, R.train.batch_size, R.data.max_seq_len, R.data.pack, 0,
                     static_cast<uint64_t>(R.train.seed));
  GradCutReport rep;
  auto prune = [&](int step, int max_per_type) {
    read_importances(plan, s.adapters);
    std::vector<std::string> pruned = gradcut_prune(plan, g, keep, max_per_type);
    if (pruned.empty()) return;
    ++rep.prune_events;
    log_debug("gradcut: after step ", step, " pruned ", pruned.size(), " matrices; cut layer ", plan.cut_layer());
    drop_pruned(s, plan, pruned);
    rep.pruned.emplace_back(step, std::move(pruned));
  };
  if (gradcut_prunes_after(0, g)) prune(0, g.prune_step);

  Progress bar("gradcut", steps);
  for (int step = 1; step <= steps; ++step) {
    LossOptions lo;
    lo.cut_layer = plan.cut_layer();
    lo.grad_checkpoint = R.train.grad_checkpoint;
    const double loss = train_step(s, stream, opt, R.train.lr, step, lo).loss;
    if (step == 1) rep.first_loss = loss;
    rep.last_loss = loss;
    if (step == steps) {
      prune(step, -1);  // reach the keep counts even when calibration_steps cut the schedule short
    } else if (gradcut_prunes_after(step, g)) {
      prune(step, g.prune_step);
    }
    char extra[96];
    std::snprintf(extra, sizeof extra, "loss %.4f, %d adapted, cut layer %d", loss,
                  static_cast<int>(plan.entries.size()) - plan.count(AdapterKind::none), plan.cut_layer());
    bar.update(step, extra);
  }
  bar.finish();
  read_importances(plan, s.adapters);

  Plan final_plan = gradcut_assign(plan, g);
  gradcut_add_warmup(final_plan, gradcut_warmup_steps(g, R.train.max_steps), R.adapters.rank, R.adapters.alpha);
  rep.steps = steps;
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  final_plan.extra = plan_totals(final_plan, shape, R.adapters.rank, R.adapters.alpha);
  final_plan.extra["cost_model"] = g.cost;
  final_plan.extra["floor_layer"] = gradcut_floor_layer(plan, g);
  final_plan.extra["calibration"] = {{"steps", rep.steps},
                                     {"prune_events", rep.prune_events},
                                     {"seconds", rep.seconds},
                                     {"first_loss", rep.first_loss},
                                     {"last_loss", rep.last_loss}};
  detach_adapters(s.model);
  s.adapters = AdapterSet{};
  s.params.clear();
  log_info("gradcut: ", final_plan.count(AdapterKind::dedicated), " dedicated, ", final_plan.count(AdapterKind::shared),
           " shared, ", final_plan.count(AdapterKind::none), " none; cut layer ", final_plan.cut_layer(), " of ",
           final_plan.num_layers, " (", rep.seconds, " s)");
  if (final_plan.warmup_steps() > 0)
    log_info("gradcut: the matrices below layer ", final_plan.cut_layer(), " train for the first ",
             final_plan.warmup_steps(), " steps (warm-up), then freeze");
  if (report) *report = std::move(rep);
  return final_plan;
}

}  // namespace et
