// GradCut's decisions, as pure functions of importances and costs (no training here: the
// calibration loop that produces the importances lives in the train layer).
//
// Phase 1 (calibration): every target matrix m shares the LoRA of its module type and owns the
// vectors a_m (r) and b_m (out). Its importance is I_m = ||a_m|| + ||b_m|| (L2 norms), its cost
// C_m comes from cost_model.h (gradcut_costs, with gradcut_floor_layer), and its score is
//     S_m = w_I * mm(I_m) - w_C * mm(C_m),   mm(x) = (x - min) / (max - min)
// with min and max taken over the surviving matrices of m's module type (mm is 0 for every matrix
// when max == min). The calibration prunes after steps initial_full_steps, initial_full_steps +
// prune_interval, initial_full_steps + 2 * prune_interval, ... : each time, per type, the
// prune_step lowest-scoring survivors (ties: the lower layer first) lose their adapter, never
// going below the type's keep count.
//
// Phase 2 (assignment): per type, over the survivors, n_m = mm(I_m) (min-max over the survivors of
// the type), mu = mean(n), sigma = population standard deviation of n. A survivor with
// n_m > mu + T * sigma gets a dedicated LoRA (dedicated_rank, dedicated_alpha); the other
// survivors keep the shared LoRA (shared_rank, shared_alpha) with their vectors; pruned matrices
// get none. For T >= 0 the least important survivor (n = 0) always stays shared; all survivors
// equal (n = 0 everywhere) means all shared. For T < 0 the test is n_m >= mean + T * sigma, so all
// survivors equal (a single one included) means all dedicated.
//
// Warm-up (ours, warmup_fraction > 0): the cut takes from training what the layers below it would
// learn. Most of that is learned early (a personalization's loss falls most in its first steps), so
// every matrix below the cut gets a dedicated LoRA that trains only for the first
// round(warmup_fraction * max_steps) steps, alongside the survivors; then it freezes (it stays in the
// model and the patch) and from that step on the cut holds: the cut-layer cache is filled with the
// frozen adapters applied, and no layer below the cut runs again.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "edgetune/adapt/adapter_options.h"
#include "edgetune/adapt/plan.h"

namespace et {

// (x - min) / (max - min) elementwise; all zeros when max == min (or x is empty).
std::vector<double> min_max(const std::vector<double>& x);

// Matrices of a type that keep an adapter: round(fraction * count) (halves up), at least 1 and at
// most count. fraction is keep_attention for q/k/v/o and keep_mlp for gate/up/down.
int gradcut_keep_count(const std::string& type, int count, const GradCutOptions& options);

// The calibration plan: every entry of `targets` (a plan from empty_plan) shared with rank
// shared_rank and alpha shared_alpha, one SharedSpec per type; policy "gradcut". Matrices of one
// type must all have the same shape (an error naming the two that differ otherwise).
Plan gradcut_calibration_plan(const Plan& targets, const GradCutOptions& options);

// True when a prune happens right after calibration step `step` (1-based count of finished steps;
// step 0 is before any update, which prunes only when initial_full_steps is 0).
bool gradcut_prunes_after(int step, const GradCutOptions& options);

// Per type, the keep count of gradcut_keep_count for the plan's matrices of that type.
std::map<std::string, int> gradcut_keep_counts(const Plan& plan, const GradCutOptions& options);

// The highest layer the cut can reach under the keep counts: every type keeps k_t matrices, so
// its lowest survivor is at most its k_t-th highest layer; the minimum of that over the types.
// (24 layers keeping 18 attention and 14 MLP matrices per type: 6.)
int gradcut_floor_layer(const Plan& plan, const GradCutOptions& options);

// Calibration steps needed to reach the keep counts with the prune schedule (at least
// initial_full_steps); calibration_steps when that is set (> 0).
int gradcut_calibration_steps(const Plan& plan, const GradCutOptions& options);

// Sets `score` of every surviving entry (kind != none) from its `importance` and `cost` with
// min-max over the survivors of its type. Pruned entries keep the score they had when pruned.
void gradcut_score(Plan& plan, const GradCutOptions& options);

// One prune: scores the survivors (gradcut_score), then per type sets kind none (rank and alpha
// 0) on the min(max_per_type, survivors - keep) lowest-scoring survivors. max_per_type < 0 means
// "down to the keep count at once". Returns the pruned module names in plan order.
std::vector<std::string> gradcut_prune(Plan& plan, const GradCutOptions& options,
                                       const std::map<std::string, int>& keep, int max_per_type);

// Phase 2 on a calibrated plan (survivors shared, pruned none, importance/cost filled): the final
// plan with dedicated / shared / none, scores set, and shared specs only for types that still have
// shared entries.
Plan gradcut_assign(const Plan& calibrated, const GradCutOptions& options);

// Warm-up steps for a run of max_steps: round(warmup_fraction * max_steps), at least 1 when the
// fraction is positive; 0 when it is 0.
int gradcut_warmup_steps(const GradCutOptions& options, int max_steps);

// Gives every matrix below the plan's cut layer (none of them has an adapter) a dedicated LoRA of
// `rank` and `alpha` with train_steps = steps. steps 0 leaves the plan unchanged.
void gradcut_add_warmup(Plan& plan, int steps, int rank, double alpha);

}  // namespace et
