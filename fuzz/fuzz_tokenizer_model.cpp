// tokenizer.model (SentencePiece ModelProto, read by our own protobuf wire reader): pieces,
// scores, types, normalizer spec; then the tokenizer encodes and decodes a fixed text.
#include "edgetune/tokenize/tokenizer.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string dir = et::path_join(et::fuzz::work_dir(), "tokmodel");
  et::make_dirs(dir);
  et::fuzz::put("tokmodel/tokenizer.model", data, size);
  et::fuzz::accept_clean_errors([&] {
    auto tok = et::load_tokenizer(dir);
    for (bool special : {false, true}) {
      const auto ids = tok->encode("Once upon a time, Tom said: \"héllo\" <s> 42\n", special, special);
      (void)tok->decode(ids, !special);
    }
  });
  return 0;
}
