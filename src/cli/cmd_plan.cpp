// `edgetune plan RECIPE [--set key=value]... [-o plan.json]`: runs GradCut's calibration on the
// recipe's model and data and prints, on stdout, one row per target matrix (importance, cost,
// score, assignment) and the totals against all-matrix LoRA; writes plan.json for
// `adapters.plan`.
// `edgetune plan --memory RECIPE [--json]`: the peak-memory estimate of training the recipe (a
// table per component, every setting with the same effective batch, and the choice under
// train.memory_budget), from config.json, the tokenizer and the data alone (no weights loaded).
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "edgetune/adapt/plan.h"
#include "edgetune/core/dir_lock.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/log.h"
#include "edgetune/core/writable.h"
#include "edgetune/core/error.h"
#include "edgetune/train/gradcut_calibration.h"
#include "edgetune/train/memory_plan.h"
#include "edgetune/train/pipeline.h"
#include "edgetune/train/trainer.h"
#include "recipe_args.h"

namespace et::cli {

namespace {

struct PlanArgs {
  RecipeArgs recipe;
  std::string output;
  bool memory = false;
  bool json = false;
};

// 1234567 -> "1.23M" (k, M, G, T).
std::string si(double v) {
  const char* units[] = {"", "k", "M", "G", "T"};
  int u = 0;
  while (std::abs(v) >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f%s" : "%.0f%s", v, units[u]);
  return buf;
}

std::string versus(double ours, double base) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s vs %s (%+.1f%%)", si(ours).c_str(), si(base).c_str(),
                base > 0 ? 100.0 * (ours - base) / base : 0.0);
  return buf;
}

void print_table(const Plan& p) {
  std::printf("%-40s %5s %-9s %12s %10s %8s  %s\n", "matrix", "layer", "type", "importance", "cost", "score",
              "assignment");
  for (const auto& e : p.entries) {
    std::string kind = adapter_kind_name(e.kind);
    if (e.kind != AdapterKind::none) kind += " r=" + std::to_string(e.rank);
    if (e.train_steps > 0) kind += " (warm-up: first " + std::to_string(e.train_steps) + " steps)";
    std::printf("%-40s %5d %-9s %12.5f %10.5f %8.4f  %s\n", e.module.c_str(), e.layer, e.type.c_str(), e.importance,
                e.cost, e.score, kind.c_str());
  }
  const auto& t = p.extra;
  const auto& b = t.at("all_matrix_lora");
  const int base_rank = b.at("rank").get<int>();
  std::printf("\ntotals (per trained token; all-matrix LoRA at rank %d for comparison)\n", base_rank);
  std::printf("  adapters             dedicated %d, shared %d, none %d\n", p.count(AdapterKind::dedicated),
              p.count(AdapterKind::shared), p.count(AdapterKind::none));
  std::printf("  trainable parameters %s\n",
              versus(static_cast<double>(p.trainable_parameters()), b.at("trainable_parameters").get<double>()).c_str());
  std::printf("  cut layer            %d of %d (backward runs in layers %d..%d only; the keep counts allow up to %d)\n",
              p.cut_layer(), p.num_layers, p.cut_layer(), p.num_layers - 1, t.value("floor_layer", 0));
  if (t.contains("warmup"))
    std::printf("  warm-up              %d adapters below the cut train for the first %d steps (cut layer %d then), "
                "then freeze; the step costs below are those after it\n",
                t["warmup"].at("adapters").get<int>(), t["warmup"].at("steps").get<int>(),
                t["warmup"].at("cut_layer").get<int>());
  std::printf("  forward FLOPs        %s\n",
              versus(t.at("forward_flops").get<double>(), b.at("forward_flops").get<double>()).c_str());
  if (p.cut_layer() > 0)
    std::printf("  forward, cut cache   %s (train.cut_cache: no layer below the cut runs after the first pass)\n",
                versus(t.at("forward_flops_cut_cache").get<double>(), b.at("forward_flops").get<double>()).c_str());
  std::printf("  backward FLOPs       %s\n",
              versus(t.at("backward_flops").get<double>(), b.at("backward_flops").get<double>()).c_str());
  std::printf("  activation bytes     %s\n",
              versus(t.at("activation_bytes").get<double>(), b.at("activation_bytes").get<double>()).c_str());
  std::printf("  cost model           %s; calibration %d steps, %d prune events\n",
              t.value("cost_model", std::string("?")).c_str(), t.at("calibration").at("steps").get<int>(),
              t.at("calibration").at("prune_events").get<int>());
}

void run_memory(const PlanArgs& a) {
  const MemoryReport r = memory_report(a.recipe.resolve());
  if (a.json)
    std::printf("%s\n", memory_report_json(r).dump(2).c_str());
  else
    std::printf("%s", format_memory_report(r).c_str());
  std::fflush(stdout);
}

void run_plan(const PlanArgs& a) {
  if (a.memory) return run_memory(a);
  if (a.json) fail("plan", "--json goes with --memory (the plan itself is written as plan.json)");
  Recipe recipe = a.recipe.resolve();
  // Where plan.json goes is checked before the calibration runs; into output.dir, under its lock.
  std::unique_ptr<DirLock> lock;
  if (a.output.empty()) {
    check_writable_dir(recipe.output.dir, "output.dir");
    lock = std::make_unique<DirLock>(recipe.output.dir, "edgetune plan");
  } else {
    check_writable_file(a.output, "plan -o");
  }
  if (recipe.adapters.policy != "gradcut")
    log_info("planning with GradCut (the recipe's adapters.policy is ", recipe.adapters.policy, ")");
  recipe.adapters.policy = "gradcut";
  PipelineOptions po;
  po.stop = PipelineStop::after_plan;
  const Plan plan = run_pipeline(recipe, po).plan;
  const std::string out = a.output.empty() ? path_join(recipe.output.dir, "plan.json") : a.output;
  save_plan(plan, out);
  print_table(plan);
  std::fflush(stdout);
  log_info("plan written to ", out, " (train it with --set adapters.policy=gradcut --set adapters.plan=", out, ")");
}

}  // namespace

void add_plan_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("plan", "Plan adapters with GradCut: calibrate, print the table, write plan.json");
  auto a = std::make_shared<PlanArgs>();
  add_recipe_args(cmd, a->recipe, /*required=*/true);
  cmd->add_option("-o,--output", a->output, "plan.json to write (default: <output.dir>/plan.json)");
  cmd->add_flag("--memory", a->memory,
                "print the peak-memory estimate of training the recipe instead of planning (per component, every "
                "micro-batch / checkpointing / cut-cache setting, the choice under train.memory_budget)");
  cmd->add_flag("--json", a->json, "with --memory: the estimate as JSON");
  cmd->callback([a] { run_plan(*a); });
}

}  // namespace et::cli
