// The native patch (patch.safetensors): magic and version metadata, per-tensor checksums, the plan
// JSON, the base fingerprints, every tensor against the plan's shapes.
#include "edgetune/export/patch.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = et::fuzz::put("patch.safetensors", data, size);
  et::fuzz::accept_clean_errors([&] {
    et::Patch p = et::read_patch(path);
    (void)et::adapters_from_patch(p, torch::kCPU);
  });
  return 0;
}
