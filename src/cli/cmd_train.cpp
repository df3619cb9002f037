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
#include "edgetune/export/merged_export.h"
#include "edgetune/export/patch.h"
#include "edgetune/export/peft_export.h"
#include "edgetune/train/checkpoint.h"
#include "edgetune/train/gradcut_calibration.h"
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

Plan choose_plan(TrainSession& s, bool resume) {
  const Recipe& r = s.recipe;
  if (resume) {
    // The plan the run was training (a damaged newest checkpoint is set aside: see run_training).
    if (auto rp = load_resume_checkpoint(r.output.dir))
      return Plan::from_json(nlohmann::json::parse(rp->state.plan_json), rp->path);
  }
  const std::string& policy = r.adapters.policy;
  if (policy == "all") return plan_all(s.model, r.adapters);
  if (policy == "list") return plan_list(s.model, r.adapters);
  if (policy == "full" || policy == "none") return empty_plan(s.model, r.adapters);
  if (policy == "gradcut") {
    if (r.adapters.plan.empty()) return gradcut_plan(s);  // calibrate now
    // The plan fixes placement, ranks and alphas; dropout is a training setting, so the recipe's applies.
    Plan p = load_plan(r.adapters.plan);
    p.dropout = r.adapters.dropout;
    return p;
  }
  fail("train", "unknown adapters.policy '", policy, "'");
}

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
  TrainSession s = open_session(recipe);
  Plan plan = choose_plan(s, a.resume);
  apply_plan(s, plan);
  nlohmann::ordered_json summary;
  if (recipe.adapters.policy == "none") {
    EvalResult e = evaluate_loss(s, s.eval_examples.empty() ? s.train_examples : s.eval_examples);
    summary["eval_loss"] = e.loss;
    std::cout << summary.dump() << std::endl;
    return;
  }
  TrainResult r = run_training(s, a.resume);
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
  if (s.full) {
    const std::string out = path_join(dir, "model");
    export_model_weights(s.model, recipe.model.path, out);
    summary["model"] = out;
    log_info("model written to ", out);
  } else if (recipe.model.init == "random") {
    // A patch names its base by the weights' fingerprints; a random backbone has no files to name.
    log_warn("model.init is random: no base weights to fingerprint, so no patch is written");
  } else {
    const std::string patch_path = path_join(dir, "patch.safetensors");
    write_patch(patch_path, make_patch(s.adapters, recipe.model.path, s.recipe_yaml));
    summary["patch"] = patch_path;
    if (recipe.output.export_peft) {
      export_peft(s.adapters, recipe.model.path, path_join(dir, "peft"));
      summary["peft"] = path_join(dir, "peft");
    }
    log_info("patch written to ", patch_path);
  }
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
