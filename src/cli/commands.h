// The edgetune subcommands. Each lives in its own cmd_<name>.cpp and registers itself on the app.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

namespace et::cli {

// Each add_* function adds one subcommand to `app`; its callback does the work and throws
// et::Error on failure (main turns that into a message and exit code 1).
void add_inspect_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_plan_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_retune_command(CLI::App& app);

}  // namespace et::cli
