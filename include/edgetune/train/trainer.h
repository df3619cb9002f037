// A training run: setup from a recipe (model, tokenizer, data, plan, adapters) and the loop.
//
// The loop, per optimizer step: draw grad_accum micro-batches, count their target tokens N, for
// each micro-batch backpropagate loss_sum / N (a token-normalized loss however the tokens fall
// into micro-batches), clip the global gradient norm, AdamW step, zero the gradients, then
// diagnostics: a metrics.jsonl row, the progress bar, periodic eval and checkpoints.
#pragma once
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "edgetune/adapt/adapters.h"
#include "edgetune/data/examples.h"
#include "edgetune/model/model.h"
#include "edgetune/tokenize/chat_template.h"
#include "edgetune/tokenize/tokenizer.h"
#include "edgetune/train/causal_lm_loss.h"
#include "edgetune/train/cut_cache.h"
#include "edgetune/train/optimizer.h"
#include "edgetune/train/recipe.h"

namespace et {

struct TrainSession {
  Recipe recipe;
  std::string recipe_yaml;  // the resolved recipe as written next to the outputs
  model::Model model;
  std::unique_ptr<Tokenizer> tokenizer;
  ChatTemplate chat_template = ChatTemplate::plain;
  std::vector<TokenizedExample> train_examples, eval_examples;
  Plan plan;
  AdapterSet adapters;           // empty for policies full and none
  std::vector<NamedParam> params;  // what the optimizer updates
  bool full = false;             // full fine-tuning: params are the model's own weights
};

// Sets the process-wide kernel path (fast or reference) from train.kernels.
void apply_kernel_path(const Recipe& recipe);

// Resolves "auto" device/dtype, loads the model (NF4-quantized when quant.backbone is nf4), the
// tokenizer and both datasets. Planning and adapters are separate (plan_session).
TrainSession open_session(const Recipe& recipe);

// Chooses the plan (from adapters.policy; gradcut plans are made by the caller and passed in),
// creates the adapters or marks the model weights trainable, and fills session.params.
void apply_plan(TrainSession& session, const Plan& plan);

// How the session turns conversations into examples (template, data.system_prompt,
// data.last_turn_only, data.max_seq_len): eval's held-out loss uses the same.
ExampleOptions example_options(const TrainSession& session);
// The rendered + tokenized examples of a JSONL file with the session's template and limits.
std::vector<TokenizedExample> tokenize_file(const TrainSession& session, const std::string& path, int max_examples);

// Mean loss per target token over `examples` (no gradients), in batches of batch_size rows.
struct EvalResult {
  double loss = 0;
  int64_t tokens = 0;
};
EvalResult evaluate_loss(const TrainSession& session, const std::vector<TokenizedExample>& examples);

// The run as its whole metrics.jsonl tells it (every process that wrote it: a resumed run's
// summary covers the steps before the resume too).
struct TrainResult {
  int64_t steps_done = 0;
  // The eval before any update (step 0) and the newest one, with their steps; -1: none.
  double first_eval_loss = -1, last_eval_loss = -1;
  int64_t first_eval_step = -1, last_eval_step = -1;
  double last_train_loss = 0;   // of the last applied step
  bool has_train_loss = false;  // false: no step was applied (nor logged) yet
  int64_t skipped_steps = 0;    // updates skipped for a non-finite or exploded loss or gradient
  bool interrupted = false;     // stopped by SIGINT, SIGTERM or a hook (a checkpoint was written)
  std::string stopped_by;       // "SIGINT", "SIGTERM" or "" (a hook)
  double seconds = 0;
  double cut_cache_seconds = -1;  // time to fill the cut-layer cache; -1: no cache
};

struct TrainHooks {
  // Called after every optimizer step (step is 1-based). Return false to stop (like Ctrl-C).
  std::function<bool(int64_t step, double loss)> after_step;
};

struct StepStats {
  double loss = 0;       // mean over the step's target tokens
  double grad_norm = 0;  // before clipping
  int64_t targets = 0, tokens = 0;
  std::string skipped;   // why the update was not applied (StepGuard); "" when it was
};

// What makes train_step refuse to apply an update (the weights keep their values, AdamW its
// state): a loss or gradient norm that is not finite, a gradient norm of exactly 0 with a positive
// loss (nothing reaches the trainable weights: a saturated, diverged model), or a loss above
// max_loss (exploded; 0: no limit). Off, every update is applied.
struct StepGuard {
  bool enabled = false;
  double max_loss = 0;
};
// The reason a step with these numbers is skipped under `guard`, or "".
std::string bad_step_reason(const StepGuard& guard, double loss, double grad_norm);

// One optimizer step of the loop above (shared by training and GradCut's calibration): grad_accum
// micro-batches from `stream`, token-normalized loss, backward, clip, AdamW at `lr`, zero. Dropout
// is seeded by (recipe seed, seed_step, micro-batch), so a resumed run draws the same masks.
// With a cut-layer cache of the stream's examples, the steps start at the cut.
// The loss and the gradient norm reach the host before the update (one sync per step), so that
// `guard` can keep a bad step from the weights.
StepStats train_step(TrainSession& session, BatchStream& stream, AdamW& opt, double lr, int64_t seed_step,
                     const LossOptions& loss_options, const CutCache* cache = nullptr, const StepGuard& guard = {});

// The cut-layer cache the recipe asks for (train.cut_cache) over the training examples, or none
// (cut_layer 0 or full fine-tuning, off, or auto and larger than train.cut_cache_max_mb).
std::unique_ptr<CutCache> make_cut_cache(const TrainSession& session, int cut_layer);

// Runs the loop from step 0, or from the newest intact checkpoint in output.dir when resume is
// set (train/checkpoint.h: load_resume_checkpoint). Writes recipe.resolved.yaml, plan.json,
// metrics.jsonl and checkpoints/ into output.dir, holding its lock (core/dir_lock.h) and after
// removing the partial files of an interrupted run. SIGINT and SIGTERM stop the loop after the
// running step, with a checkpoint. Steps that StepGuard refuses are skipped and logged; after
// train.max_bad_steps of them in a row the run stops with an error naming the likely cause.
TrainResult run_training(TrainSession& session, bool resume, const TrainHooks& hooks = {});

// Peak memory in MB: the CUDA caching allocator's peak of allocated bytes on a GPU (with a CUDA
// libtorch build), the process's peak resident set on the CPU.
double peak_memory_mb(torch::Device device);

}  // namespace et
