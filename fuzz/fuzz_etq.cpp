// The .etq backbone file: magic, version, the safetensors image inside it, every NF4 weight's
// buffers against its shape, side files.
#include "edgetune/quant/etq_file.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = et::fuzz::put("x.etq", data, size);
  et::fuzz::accept_clean_errors([&] {
    if (!et::quant::is_etq_file(path)) return;
    (void)et::quant::read_etq(path);
  });
  return 0;
}
