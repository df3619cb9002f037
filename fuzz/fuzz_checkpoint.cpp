// A training checkpoint: magic and version metadata, checksums, step and data position, the plan
// JSON, every tensor (finite float32).
#include "edgetune/train/checkpoint.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = et::fuzz::put("step-00000001.safetensors", data, size);
  et::fuzz::accept_clean_errors([&] { (void)et::load_checkpoint(path); });
  return 0;
}
