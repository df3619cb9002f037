// The RECIPE positional argument and --set overrides shared by train and plan.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "edgetune/train/recipe.h"

namespace et::cli {

struct RecipeArgs {
  std::string path;
  std::vector<std::string> sets;
  // Defaults, then the YAML file, then each --set in order; validated. Paths come out absolute:
  // the file's relative to its folder, --set's and the defaults' relative to the current folder.
  Recipe resolve() const {
    Recipe r = load_recipe(path);
    for (const auto& s : sets) apply_override(r, s);
    absolutize_recipe_paths(r);
    validate_recipe(r);
    return r;
  }
};

inline void add_recipe_args(CLI::App* cmd, RecipeArgs& a, bool required) {
  auto* opt = cmd->add_option("recipe", a.path, "YAML recipe (see `edgetune train --explain`)");
  if (required) opt->required();
  cmd->add_option("--set", a.sets, "override a recipe key, e.g. --set train.max_steps=50 (repeatable)")
      ->allow_extra_args(false);
}

}  // namespace et::cli
