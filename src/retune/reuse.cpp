#include "edgetune/retune/reuse.h"

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/model/model_files.h"
#include "edgetune/train/recipe.h"

namespace et {

Patch refingerprint_patch(const Patch& patch, const std::string& base_new) {
  Patch p = patch;
  std::vector<std::string> modules;
  for (const auto& f : patch.fingerprints) modules.push_back(f.module);
  p.fingerprints = fingerprint_base(base_new, modules);
  p.base_path = base_new;
  p.base_config = read_text_file(path_join(model::model_files_folder(base_new), "config.json"));
  if (!patch.recipe_yaml.empty()) {
    // The recipe resumes and retunes from here on: it names the base the patch now belongs to.
    Recipe r = parse_recipe(patch.recipe_yaml, "the patch's recipe");
    r.model.path = base_new;
    p.recipe_yaml = recipe_to_yaml(r);
  }
  return p;
}

}  // namespace et
