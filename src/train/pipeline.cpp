// The session pipeline (pipeline.h): the one path from a recipe to a patch.
#include "edgetune/train/pipeline.h"

#include <nlohmann/json.hpp>

#include "edgetune/core/error.h"
#include "edgetune/core/log.h"
#include "edgetune/core/paths.h"
#include "edgetune/export/merged_export.h"
#include "edgetune/export/patch.h"
#include "edgetune/export/peft_export.h"
#include "edgetune/train/checkpoint.h"
#include "edgetune/train/gradcut_calibration.h"

namespace et {

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

PipelineResult run_pipeline(const Recipe& recipe, const PipelineOptions& o) {
  PipelineResult out;
  TrainSession s = open_session(recipe);                       // open
  out.plan = o.plan ? *o.plan : choose_plan(s, o.resume);      // plan
  if (o.stop == PipelineStop::after_plan) return out;
  apply_plan(s, out.plan);                                     // attach
  out.plan = s.plan;  // with what attaching resolved (token rows)
  if (recipe.adapters.policy == "none") {
    out.eval = evaluate_loss(s, s.eval_examples.empty() ? s.train_examples : s.eval_examples);
    return out;
  }
  if (o.before_training) o.before_training(s);
  out.train = run_training(s, o.resume);                       // train
  out.trained = true;
  if (out.train.interrupted && !o.export_if_interrupted) return out;  // the checkpoint holds the run
  const std::string dir = recipe.output.dir;                   // export
  if (s.full) {
    out.model_dir = path_join(dir, "model");
    export_model_weights(s.model, recipe.model.path, out.model_dir);
    log_info("model written to ", out.model_dir);
  } else if (recipe.model.init == "random") {
    // A patch names its base by the weights' fingerprints; a random backbone has no files to name.
    log_warn("model.init is random: no base weights to fingerprint, so no patch is written");
  } else {
    out.patch = o.patch_path.empty() ? path_join(dir, "patch.safetensors") : o.patch_path;
    write_patch(out.patch, make_patch(s.adapters, recipe.model.path, s.recipe_yaml));
    if (recipe.output.export_peft && o.export_peft) {
      out.peft = path_join(dir, "peft");
      export_peft(s.adapters, recipe.model.path, out.peft);
    }
    log_info("patch written to ", out.patch);
  }
  return out;
}

}  // namespace et
