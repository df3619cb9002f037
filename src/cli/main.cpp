// edgetune: fine-tune small language models where they run. Only this file catches errors.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "commands.h"
#include "edgetune/core/error.h"
#include "edgetune/core/log.h"
#include "edgetune/version.h"

namespace {

// Tensors of 1 MiB and more are mapped and unmapped on their own: glibc's mmap threshold, which by
// default grows up to 32 MiB and lets freed blocks below it stay resident, is fixed here, so a CPU
// training step's resident peak follows its live tensors (what train.memory_budget plans for) and
// stays lower. MALLOC_MMAP_THRESHOLD_ in the environment still wins.
void fix_heap_threshold() {
#if defined(__GLIBC__)
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
}

}  // namespace

int main(int argc, char** argv) {
  fix_heap_threshold();
  CLI::App app{"edgetune " EDGETUNE_VERSION
               " - fine-tune small language models on the device where they run"};
  app.require_subcommand(1);
  app.set_version_flag("--version", EDGETUNE_VERSION);
  std::string level = "info";
  app.add_option("--log-level", level, "debug, info, warn, error or quiet (logs go to stderr)")
      ->capture_default_str();
  app.parse_complete_callback([&] { et::set_log_level(et::parse_log_level(level)); });
  et::cli::add_inspect_command(app);
  et::cli::add_tokenize_command(app);
  et::cli::add_generate_command(app);
  et::cli::add_quantize_command(app);
  et::cli::add_plan_command(app);
  et::cli::add_train_command(app);
  et::cli::add_export_command(app);
  et::cli::add_eval_command(app);
  et::cli::add_retune_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const et::Error& e) {
    std::fprintf(stderr, "edgetune: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "edgetune: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
