// The session pipeline (DESIGN.md): open (recipe, model, tokenizer, data) -> plan (all / list /
// gradcut / a plan file / a given plan) -> attach -> train -> export, as one function with
// different stops. `edgetune train` runs it whole, `edgetune plan` stops after the plan, and
// `edgetune retune --apply` runs it with the old patch's plan and a warm start.
#pragma once
#include <functional>
#include <string>

#include "edgetune/adapt/plan.h"
#include "edgetune/train/recipe.h"
#include "edgetune/train/trainer.h"

namespace et {

enum class PipelineStop { after_plan, after_export };

struct PipelineOptions {
  PipelineStop stop = PipelineStop::after_export;
  bool resume = false;         // continue from output.dir's newest intact checkpoint, with its plan
  const Plan* plan = nullptr;  // this plan instead of the recipe's policy (retune: the old patch's)
  // Runs once the adapters are attached, before training (retune: measure the old patch, warm start).
  std::function<void(TrainSession&)> before_training;
  std::string patch_path;      // where the patch goes; default <output.dir>/patch.safetensors
  bool export_peft = true;     // and output.export_peft: the PEFT adapter in <output.dir>/peft
  bool export_if_interrupted = true;  // a run stopped by a signal still writes its patch
};

struct PipelineResult {
  Plan plan;
  bool trained = false;  // false: stopped after the plan, or adapters.policy none (eval only)
  TrainResult train;
  EvalResult eval;       // policy none: the loss on data.eval (data.train without one)
  std::string patch, peft, model_dir;  // what was written ("" when not)
};

// The plan the recipe asks for: the checkpoint's on resume, else by adapters.policy (gradcut
// without adapters.plan calibrates now).
Plan choose_plan(TrainSession& session, bool resume);

PipelineResult run_pipeline(const Recipe& recipe, const PipelineOptions& options = {});

}  // namespace et
