// A YAML recipe: sections, keys, types, --set style values; validated, written back as YAML and
// read again (the resolved recipe a run stores must parse to the same recipe).
#include <string>

#include "edgetune/train/recipe.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  et::fuzz::work_dir();
  const std::string text(reinterpret_cast<const char*>(data), size);
  et::fuzz::accept_clean_errors([&] {
    et::Recipe r = et::parse_recipe(text, "fuzz.yaml", "/recipes");
    et::fuzz::accept_clean_errors([&] { et::validate_recipe(r); });
    const std::string yaml = et::recipe_to_yaml(r);
    et::Recipe back = et::parse_recipe(yaml, "resolved");
    if (et::recipe_to_yaml(back) != yaml) std::abort();  // the resolved recipe must round-trip
  });
  return 0;
}
