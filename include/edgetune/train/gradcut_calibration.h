// GradCut's calibration run (phase 1) on a training session, then the assignment (phase 2):
// the plan `edgetune plan` prints and `train` with adapters.policy gradcut trains.
//
// The run trains the all-shared calibration plan (adapt/gradcut.h) with the trainer's pieces:
// the session's training data through a BatchStream seeded like the training run, grad_accum
// micro-batches of causal_lm_loss_sum per step, clipping at train.max_grad_norm and AdamW at a
// constant train.lr (no warmup: the calibration is short). After each step the importances
// ||a_m|| + ||b_m|| are read from the vectors; on the prune schedule the lowest-scoring matrices
// lose their adapter (detached from the model, their vectors leave the adapter set and get no
// gradient), and the gradient cut moves up with the lowest surviving adapter. If
// adapters.gradcut.calibration_steps ends the run before the keep counts are reached, the last
// step prunes down to them at once.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "edgetune/adapt/cost_model.h"
#include "edgetune/adapt/plan.h"
#include "edgetune/train/trainer.h"

namespace et {

struct GradCutReport {
  int steps = 0;         // calibration steps run
  int prune_events = 0;
  double seconds = 0;
  double first_loss = 0, last_loss = 0;  // training loss of the first and last calibration step
  std::vector<std::pair<int, std::vector<std::string>>> pruned;  // (after step, modules)
};

// The cost shape of the session's model and data: rows of data.max_seq_len tokens when packing
// (else the mean example length), the compute dtype's size, and the share of target tokens in
// the training examples.
CostShape session_cost_shape(const TrainSession& session);

// Runs the calibration on `session` (which must have its model and training examples; adapters
// of a previous plan are replaced) and returns the final plan, its totals in Plan::extra (with a
// "calibration" record). The session is left without adapters and parameters: apply_plan the
// result to train it.
Plan gradcut_plan(TrainSession& session, GradCutReport* report = nullptr);

}  // namespace et
