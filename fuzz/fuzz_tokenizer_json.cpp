// tokenizer.json (Hugging Face): model, vocab, merges, added tokens, normalizer, pre-tokenizer,
// decoder, post-processor; then the tokenizer encodes and decodes a fixed text.
#include "edgetune/tokenize/tokenizer.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string dir = et::path_join(et::fuzz::work_dir(), "tokjson");
  et::make_dirs(dir);
  et::fuzz::put("tokjson/tokenizer.json", data, size);
  et::fuzz::accept_clean_errors([&] {
    auto tok = et::load_tokenizer(dir);
    for (bool special : {false, true}) {
      const auto ids = tok->encode("Once upon a time, Tom said: \"héllo\" <s> 42\n", special, special);
      (void)tok->decode(ids, !special);
    }
    for (int32_t id = 0; id < tok->vocab_size() && id < 64; ++id) (void)tok->id_to_piece(id);
  });
  return 0;
}
