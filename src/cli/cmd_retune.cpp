// `edgetune retune --patch P --base-old A --base-new B [--kappa K] [--k K] [--json OUT] [--apply -o OUT]`:
// decides from the weights alone whether a patch trained on base A still fits base B (ReTune's
// rule), printing a table of the patched matrices and the decision with its numbers on stdout.
// --apply writes the patch for B: on reuse the same patch re-fingerprinted for B; on retune a
// budgeted retraining on B warm-started from it (the patch's recipe, or --recipe, with --set).
#include <cstdio>
#include <memory>

#include "commands.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/writable.h"
#include "edgetune/retune/retune.h"

namespace et::cli {

namespace {

struct RetuneArgs {
  RetuneRequest request;
  std::string json_out;
};

void run_retune_command(const RetuneArgs& a) {
  check_writable_file(a.json_out, "retune --json");
  // The retrained patch's folder is its run folder (created if missing).
  if (a.request.apply && !a.request.output.empty()) {
    check_writable_dir(parent_path(a.request.output), "retune -o");
    check_writable_file(a.request.output, "retune -o");
  }
  const RetuneResult r = run_retune(a.request);
  if (!a.json_out.empty()) write_file_atomic(a.json_out, retune_json(r).dump(2) + "\n");
  std::fputs(format_retune_report(r).c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace

void add_retune_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "retune", "Decide from the weights whether a patch still fits a new base release (reuse or retune)");
  auto a = std::make_shared<RetuneArgs>();
  RetuneRequest& q = a->request;
  cmd->add_option("--patch", q.patch, "patch.safetensors trained on --base-old")->required();
  cmd->add_option("--base-old", q.base_old, "the base the patch was trained on (HF folder or .etq)")->required();
  cmd->add_option("--base-new", q.base_new, "the new base release (HF folder or .etq)")->required();
  cmd->add_option("--kappa", q.options.kappa, "retune when the drift statistic exceeds kappa times the patch's")
      ->capture_default_str();
  cmd->add_option("--k", q.options.k, "weight of the standard deviation in both statistics")->capture_default_str();
  cmd->add_option("--json", a->json_out, "also write the report as JSON here");
  cmd->add_flag("--apply", q.apply,
                "write the patch for --base-new to -o: re-fingerprinted on reuse, retrained on a budget on retune");
  cmd->add_option("-o,--output", q.output, "with --apply: the patch to write");
  cmd->add_option("--recipe", q.recipe, "with --apply on retune: the recipe to retrain with (default: the patch's)");
  cmd->add_option("--set", q.sets, "override a key of that recipe, e.g. --set train.max_steps=30 (repeatable)")
      ->allow_extra_args(false);
  cmd->add_flag("--force", q.options.force, "measure the drift even if --base-old is not the patch's base (warns)");
  cmd->callback([a] { run_retune_command(*a); });
}

}  // namespace et::cli
