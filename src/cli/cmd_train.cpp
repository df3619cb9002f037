// `edgetune train RECIPE [--set key=value]... [--resume]`: plans adapters, fine-tunes, evaluates
// and exports. stdout gets one JSON line summarizing the run; progress and logs go to stderr.
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgetune/adapt/plan.h"
#include "edgetune/core/dir_lock.h"
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/log.h"
#include "edgetune/core/writable.h"
#include "edgetune/train/pipeline.h"
#include "edgetune/train/recipe.h"
#include "edgetune/train/trainer.h"
#include "recipe_args.h"

namespace et::cli {

namespace {

struct TrainArgs {
  RecipeArgs recipe;
  bool resume = false;
  bool explain = false;
};

void run_train(const TrainArgs& a) {
  if (a.explain) {
    std::cout << explain_recipe();
    return;
  }
  Recipe recipe = a.recipe.resolve();
  // The run's folder is its own from here to the patch: a second run into it stops now, naming
  // this one, before either loads anything.
  check_writable_dir(recipe.output.dir, "output.dir");
  const DirLock lock(recipe.output.dir, "edgetune train");
  PipelineOptions po;
  po.resume = a.resume;
  const PipelineResult p = run_pipeline(recipe, po);
  nlohmann::ordered_json summary;
  if (!p.trained) {  // adapters.policy none: the model's loss, no training
    summary["eval_loss"] = p.eval.loss;
    std::cout << summary.dump() << std::endl;
    return;
  }
  const TrainResult& r = p.train;
  const std::string dir = recipe.output.dir;
  summary["output_dir"] = dir;
  summary["steps"] = r.steps_done;
  if (r.has_train_loss) summary["train_loss"] = r.last_train_loss;
  // From the run's whole metrics: before = the eval at step 0, after = the newest eval (not
  // taken again when a stop came between evals: eval_step_after says when it was).
  const bool has_before = r.first_eval_step == 0;
  const bool has_after = r.last_eval_step > 0;
  if (has_before) summary["eval_loss_before"] = r.first_eval_loss;
  if (has_after) {
    summary["eval_loss_after"] = r.last_eval_loss;
    summary["eval_step_after"] = r.last_eval_step;
  }
  if (r.skipped_steps > 0) summary["skipped_steps"] = r.skipped_steps;
  summary["seconds"] = r.seconds;
  if (r.cut_cache_seconds >= 0) summary["cut_cache_seconds"] = r.cut_cache_seconds;
  summary["interrupted"] = r.interrupted;
  if (!r.stopped_by.empty()) summary["stopped_by"] = r.stopped_by;
  if (!p.model_dir.empty()) summary["model"] = p.model_dir;
  if (!p.patch.empty()) summary["patch"] = p.patch;
  if (!p.peft.empty()) summary["peft"] = p.peft;
  if (has_before && has_after) {
    const double lower = r.first_eval_loss > 0 ? 100.0 * (r.first_eval_loss - r.last_eval_loss) / r.first_eval_loss : 0.0;
    log_info("held-out loss ", r.first_eval_loss, " (step 0) -> ", r.last_eval_loss, " (step ", r.last_eval_step,
             "), ", lower, "% lower");
  } else if (has_before) {
    log_info("held-out loss ", r.first_eval_loss, " at step 0; not measured since",
             r.interrupted ? cat(" (stopped at step ", r.steps_done, " before the next eval)") : std::string());
  }

  std::cout << summary.dump() << std::endl;
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Fine-tune a model with a YAML recipe (stdout: a JSON summary)");
  auto a = std::make_shared<TrainArgs>();
  add_recipe_args(cmd, a->recipe, /*required=*/false);
  cmd->add_flag("--resume", a->resume, "continue from the newest checkpoint in output.dir");
  cmd->add_flag("--explain", a->explain, "print every recipe key with its default and help, then exit");
  cmd->callback([a] {
    if (!a->explain && a->recipe.path.empty()) fail("train", "a RECIPE file is required (or --explain)");
    run_train(*a);
  });
}

}  // namespace et::cli
