#include "commands.h"

namespace et::cli {
void add_generate_command(CLI::App& app) { (void)app; }
}  // namespace et::cli
