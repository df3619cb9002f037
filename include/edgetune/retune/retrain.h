// Retuning a patch on a new base on a budget: the recipe (the one stored in the patch, or another)
// on the new base, GradCut again when the recipe plans with it (else the patch's own plan), the
// adapters warm-started from the old patch, train.max_steps of training with the existing loop.
//
// Warm start, per adapter of the new plan:
//   - a tensor the old patch holds under the same name and shape is copied (a shared adapter's
//     A_t, B_t, its per-matrix vectors, a dedicated A and B of the same rank);
//   - a dedicated adapter on a matrix the old patch adapted otherwise (another rank or scale, or
//     shared) gets the old update dW = s_old B_old A_old exactly when its rank r >= the old rank
//     (A's first rows are the old A, B's first columns the old B scaled by s_old / s, the other
//     columns of B zero), or its best rank-r approximation (truncated SVD) when r is smaller;
//   - anything else starts fresh (B = 0: no update).
// The held-out loss of the old patch forced onto the new base is measured first; a retrained patch
// whose held-out loss ends higher than that is not written: the old patch, re-fingerprinted, is.
#pragma once
#include <string>
#include <vector>

#include "edgetune/adapt/adapters.h"
#include "edgetune/export/patch.h"

namespace et {

struct WarmStartCounts {
  int copied = 0;      // tensors copied by name
  int exact = 0;       // dedicated adapters given the old dW exactly (rank or kind changed)
  int truncated = 0;   // dedicated adapters given the old dW's best rank-r approximation
  int fresh = 0;       // adapters with nothing to start from
};

// Warm-starts `fresh` (adapters of a new plan, in place) from `old`. See above.
WarmStartCounts warm_start_adapters(AdapterSet& fresh, const AdapterSet& old);

struct RetrainOptions {
  std::string recipe;              // a YAML recipe; empty: the one stored in the patch
  std::vector<std::string> sets;   // key=value overrides, applied last
  std::string output;              // the patch to write
};

struct RetrainResult {
  std::string output;            // the patch written
  std::string output_dir;        // the run folder (metrics.jsonl, plan.json, checkpoints/)
  std::string policy;            // "gradcut" (planned again) or "patch" (the old plan)
  WarmStartCounts warm;
  int64_t steps = 0;
  double seconds = 0;            // training, GradCut included
  double old_eval_loss = -1;     // the old patch forced onto the new base (-1: no data.eval)
  double start_eval_loss = -1;   // warm-started, before the first step
  double eval_loss = -1;         // after training
  bool kept_old = false;         // the retrained patch was worse: the old one was written
};

// Retunes `patch` (read from `patch_label`) on `base_new` and writes the result to options.output.
// model.path becomes base_new; output.dir, unless set by an override, is the folder of
// options.output.
RetrainResult retrain_patch(const Patch& patch, const std::string& patch_label, const std::string& base_new,
                            const RetrainOptions& options);

}  // namespace et
