// safetensors: the header (length, JSON, dtypes, shapes, offsets, metadata) and every tensor's
// data read as float32 with the finiteness check.
#include "edgetune/core/safetensors.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = et::fuzz::put("x.safetensors", data, size);
  et::fuzz::accept_clean_errors([&] {
    et::SafetensorsFile f(path);
    for (const auto& t : f.tensors()) {
      (void)t.numel();
      (void)t.shape_str();
      et::fuzz::accept_clean_errors([&] { (void)f.read_f32(t.name); });
    }
    for (const auto& kv : f.metadata()) (void)kv.second.size();
  });
  return 0;
}
