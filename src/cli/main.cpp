// edgetune: fine-tune small language models where they run. Only this file catches errors.
//
// Exit codes: 0 success (and --help, --version), 1 an error of the work itself (bad input, I/O),
// 2 a usage error (no command, an unknown command or option, a missing or malformed argument).
// Global options (--log-level) go before or after the command.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "commands.h"
#include "edgetune/core/error.h"
#include "edgetune/core/log.h"
#include "edgetune/version.h"

namespace {

constexpr int kUsageError = 2;

std::string command_list(const CLI::App& app) {
  std::string s;
  for (const CLI::App* c : app.get_subcommands([](const CLI::App*) { return true; }))
    s += (s.empty() ? "" : ", ") + c->get_name();
  return s;
}

bool is_command(const CLI::App& app, const std::string& word) {
  for (const CLI::App* c : app.get_subcommands([](const CLI::App*) { return true; }))
    if (c->check_name(word)) return true;
  return false;
}

// The first argument that is not a global option (or its value): the command word, or nullptr.
const char* command_word(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (a[0] != '-') return a;
    if (std::strcmp(a, "--") == 0) return i + 1 < argc ? argv[i + 1] : nullptr;
    if (std::strchr(a, '=')) continue;
    const CLI::Option* o = app.get_option_no_throw(a);
    if (o && o->get_type_size() != 0) ++i;  // skip the option's value
  }
  return nullptr;
}

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
  // Options a command does not know go to the app: --log-level is accepted after the command too.
  app.fallthrough();
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
  app.footer("Commands: " + command_list(app) + ". `edgetune COMMAND --help` describes one.");

  bool wants_help_or_version = false;
  for (int i = 1; i < argc; ++i)
    for (const char* f : {"-h", "--help", "--version"}) wants_help_or_version |= std::strcmp(argv[i], f) == 0;
  if (!wants_help_or_version) {
    const char* cmd = command_word(app, argc, argv);
    if (!cmd) {
      std::fputs(app.help().c_str(), stderr);
      std::fprintf(stderr, "edgetune: error: no command given (one of: %s)\n", command_list(app).c_str());
      return kUsageError;
    }
    if (!is_command(app, cmd)) {
      std::fprintf(stderr, "edgetune: error: unknown command '%s'; commands: %s (see edgetune --help)\n", cmd,
                   command_list(app).c_str());
      return kUsageError;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kUsageError;
  } catch (const et::Error& e) {
    std::fprintf(stderr, "edgetune: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "edgetune: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
