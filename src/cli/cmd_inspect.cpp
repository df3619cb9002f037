#include "commands.h"

namespace et::cli {
void add_inspect_command(CLI::App& app) { (void)app; }
}  // namespace et::cli
