// config.json of a Hugging Face model: architecture, sizes, RoPE (rope_theta or rope_parameters),
// layer types, special token ids.
#include <string>

#include "edgetune/model/config.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  et::fuzz::work_dir();
  const std::string text(reinterpret_cast<const char*>(data), size);
  et::fuzz::accept_clean_errors([&] { (void)et::model::parse_config(text, "config.json"); });
  return 0;
}
