#include "edgetune/retune/retrain.h"

#include <chrono>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/log.h"
#include "edgetune/retune/reuse.h"
#include "edgetune/train/gradcut_calibration.h"
#include "edgetune/train/recipe.h"
#include "edgetune/train/pipeline.h"
#include "edgetune/train/trainer.h"

namespace et {

namespace {

Recipe retrain_recipe(const Patch& patch, const std::string& patch_label, const std::string& base_new,
                      const RetrainOptions& o) {
  Recipe r;
  if (!o.recipe.empty()) {
    r = load_recipe(o.recipe);
  } else {
    if (patch.recipe_yaml.empty())
      fail("retune", patch_label, ": the patch stores no recipe to retrain with; pass --recipe R");
    r = parse_recipe(patch.recipe_yaml, patch_label + " (its recipe)");
  }
  r.model.path = base_new;
  r.output.dir = parent_path(o.output);
  for (const auto& s : o.sets) apply_override(r, s);
  validate_recipe(r);
  if (r.model.path != base_new)
    fail("retune", "the recipe's model.path is ", r.model.path, ", but the patch is retuned on --base-new ", base_new);
  absolutize_recipe_paths(r);  // --set paths and the command's own are the user's, typed here
  if (r.adapters.policy == "full" || r.adapters.policy == "none")
    fail("retune", "adapters.policy ", r.adapters.policy, " trains no adapters; retuning a patch needs all, list or gradcut");
  if (r.model.init != "pretrained") fail("retune", "model.init must be pretrained to retune on a base's weights");
  return r;
}

}  // namespace

RetrainResult retrain_patch(const Patch& patch, const std::string& patch_label, const std::string& base_new,
                            const RetrainOptions& o) {
  ET_CHECK(!o.output.empty(), "retune", "no output patch given (-o)");
  RetrainResult res;
  res.output = o.output;
  const Recipe recipe = retrain_recipe(patch, patch_label, base_new, o);
  res.output_dir = recipe.output.dir;
  const auto t0 = std::chrono::steady_clock::now();
  PipelineOptions po;
  Plan old_plan;
  if (recipe.adapters.policy == "gradcut" && recipe.adapters.plan.empty()) {
    log_info("retune: planning again with GradCut on ", base_new);
    res.policy = "gradcut";
  } else {
    old_plan = patch.plan;  // the placement, ranks and alphas the patch was trained with
    old_plan.dropout = recipe.adapters.dropout;
    po.plan = &old_plan;
    res.policy = "patch";
  }
  po.patch_path = o.output;
  po.export_peft = false;
  po.export_if_interrupted = false;
  po.before_training = [&](TrainSession& s) {
    const AdapterSet old = adapters_from_patch(patch, s.model.device);
    if (!s.eval_examples.empty()) {
      attach_adapters(s.model, old);
      res.old_eval_loss = evaluate_loss(s, s.eval_examples).loss;
      attach_adapters(s.model, s.adapters);
      log_info("retune: the old patch forced onto ", base_new, " has held-out loss ", res.old_eval_loss);
    } else {
      log_warn("retune: the recipe has no data.eval; the retrained patch is written without a held-out comparison");
    }
    res.warm = warm_start_adapters(s.adapters, old);
    log_info("retune: warm start from ", patch_label, ": ", res.warm.copied, " tensors copied, ", res.warm.exact,
             " adapters given the old update exactly, ", res.warm.truncated, " its rank-r approximation, ",
             res.warm.fresh, " tensors fresh");
  };
  const PipelineResult pr = run_pipeline(recipe, po);
  const TrainResult& tr = pr.train;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (tr.interrupted)
    fail("retune", "stopped at step ", tr.steps_done, "; no patch written (", recipe.output.dir, " has the checkpoint)");
  res.steps = tr.steps_done;
  res.start_eval_loss = tr.first_eval_loss;
  res.eval_loss = tr.last_eval_loss;
  res.kept_old = res.old_eval_loss >= 0 && !(res.eval_loss <= res.old_eval_loss);  // a NaN loss is worse too
  if (res.kept_old) {
    log_warn("retune: the retrained patch's held-out loss ", res.eval_loss, " is higher than the old patch's ",
             res.old_eval_loss, " on the new base; writing the old patch re-fingerprinted instead");
    write_patch(o.output, refingerprint_patch(patch, base_new));  // over the one the pipeline wrote
  }
  log_info("retune: ", res.steps, " steps in ", res.seconds, " s; held-out loss ", res.old_eval_loss, " (old patch) -> ",
           res.eval_loss, "; patch written to ", o.output);
  return res;
}

}  // namespace et
