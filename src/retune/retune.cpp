#include "edgetune/retune/retune.h"

#include "edgetune/core/error.h"
#include "edgetune/core/log.h"
#include "edgetune/retune/reuse.h"

namespace et {

const char* retune_action_name(RetuneAction a) {
  switch (a) {
    case RetuneAction::reused: return "reused";
    case RetuneAction::retrained: return "retrained";
    default: return "none";
  }
}

RetuneResult run_retune(const RetuneRequest& q) {
  if (q.apply && q.output.empty()) fail("retune", "--apply needs -o OUT_PATCH, the patch to write");
  if (!q.apply && !q.output.empty()) fail("retune", "-o ", q.output, " is written only with --apply");
  if (!q.apply && (!q.recipe.empty() || !q.sets.empty()))
    log_warn("retune: --recipe and --set shape the retraining of --apply; without it they are unused");
  RetuneResult res;
  const Patch patch = read_patch(q.patch);
  res.report = drift_report(patch, q.patch, q.base_old, q.base_new, q.options);
  const DriftReport& r = res.report;
  log_info("retune: ", retune_decision_name(r.decision), ": mu_D + k*sigma_D = ", r.statistic,
           r.decision == RetuneDecision::retune ? " > " : " <= ", "kappa*(mu_P + k*sigma_P) = ", r.threshold,
           " (mu_D ", r.mu_D, ", sigma_D ", r.sigma_D, ", mu_P ", r.mu_P, ", sigma_P ", r.sigma_P, ", kappa ",
           r.options.kappa, ", k ", r.options.k, ", ", r.matrices.size(), " matrices)");
  if (!q.apply) return res;
  if (r.decision == RetuneDecision::reuse) {
    write_patch(q.output, refingerprint_patch(patch, q.base_new));
    res.action = RetuneAction::reused;
    log_info("retune: the patch fits ", q.base_new, "; written re-fingerprinted for it to ", q.output);
  } else {
    RetrainOptions o;
    o.recipe = q.recipe;
    o.sets = q.sets;
    o.output = q.output;
    res.retrain = retrain_patch(patch, q.patch, q.base_new, o);
    res.action = RetuneAction::retrained;
  }
  res.written = q.output;
  return res;
}

}  // namespace et
