// GGUF: header, metadata of every type (arrays of arrays too), tensor infos, alignment, data
// offsets; each float tensor read; then the tokenizer from its tokenizer.ggml.* keys.
#include "edgetune/core/gguf.h"
#include "edgetune/tokenize/tokenizer.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = et::fuzz::put("x.gguf", data, size);
  et::fuzz::accept_clean_errors([&] {
    et::GgufFile f(path);
    for (const auto& kv : f.metadata()) (void)kv.second.to_string();
    for (const auto& t : f.tensors()) et::fuzz::accept_clean_errors([&] { (void)f.read_f32(t.name); });
  });
  et::fuzz::accept_clean_errors([&] {
    auto tok = et::load_tokenizer(path);
    (void)tok->decode(tok->encode("Hello world, 12 héllo\n", true, true));
  });
  return 0;
}
