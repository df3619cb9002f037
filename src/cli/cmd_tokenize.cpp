#include "commands.h"

namespace et::cli {
void add_tokenize_command(CLI::App& app) { (void)app; }
}  // namespace et::cli
