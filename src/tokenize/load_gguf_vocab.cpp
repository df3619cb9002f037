// GGUF tokenizer.ggml.* -> TokenizerSpec with llama.cpp's semantics (llama-vocab.cpp):
//   "llama": SentencePiece-style BPE over tokens/scores/token_type; a "▁" prefix on every piece of
//            text (tokenizer.ggml.add_space_prefix, default on), spaces escaped, no removal of
//            extra whitespace, byte fallback; BOS added by default.
//   "gpt2":  byte-level BPE over tokenizer.ggml.merges; the text is split by the regular
//            expressions llama.cpp uses for tokenizer.ggml.pre, one after the other (each keeps
//            both its matches and the text between them), then mapped to GPT-2's byte alphabet.
// Control and unknown tokens are special (matched only with parse_special); user-defined tokens
// are always matched whole, before the model.
#include <map>

#include "edgetune/core/error.h"
#include "edgetune/core/gguf.h"
#include "edgetune/core/log.h"
#include "loaders.h"

namespace et::tok {

namespace {

constexpr const char* kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
constexpr const char* kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

struct PreType {
  std::vector<std::string> patterns;
  bool ignore_merges = false;
  bool add_bos = false;
};

// llama.cpp's tokenizer.ggml.pre names and their regular expressions.
bool pre_type(const std::string& name, PreType* out) {
  auto in = [&](std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (name == n) return true;
    return false;
  };
  if (name.empty() || name == "default") {
    *out = {{"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"}};
  } else if (in({"gpt-2", "phi-2", "mpt", "olmo", "jais", "jina-es", "jina-de", "gigachat",
                 "jina-v2-es", "jina-v2-de", "jina-v1-en", "jina-v2-code", "roberta-bpe",
                 "trillion", "mellum", "modern-bert", "a.x-4.0"})) {
    *out = {{kGpt2}};
  } else if (in({"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
                 "lfm2"})) {
    *out = {{kLlama3}, true, true};
  } else if (in({"dbrx", "smaug-bpe", "chatglm-bpe", "glm4"})) {
    *out = {{kLlama3}};
  } else if (in({"qwen2", "deepseek-r1-qwen", "stablelm2", "hunyuan", "kormo"})) {
    *out = {{kQwen2}};
  } else if (name == "deepseek-coder") {
    *out = {{"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+",
             "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+", "\\p{N}"}};
  } else if (name == "falcon") {
    *out = {{"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"}};
  } else if (in({"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone",
                 "minerva-7b"})) {
    *out = {{"\\p{N}", kGpt2}};
  } else {
    return false;
  }
  return true;
}

int32_t optional_id(const GgufFile& f, const std::string& key, int32_t fallback, size_t n) {
  auto v = f.find_int(key);
  if (!v) return fallback;
  if (*v < -1 || *v >= static_cast<int64_t>(n))
    fail("gguf_vocab", f.path(), ": key '", key, "' is ", *v, ", outside the vocabulary of ", n);
  return static_cast<int32_t>(*v);
}

}  // namespace

TokenizerSpec spec_from_gguf(const std::string& path) {
  GgufFile f(path);
  const std::string model = f.get_string("tokenizer.ggml.model");
  TokenizerSpec s;
  s.path = path;
  s.pieces = f.get_string_array("tokenizer.ggml.tokens");
  const size_t n = s.pieces.size();
  if (n == 0) fail("gguf_vocab", path, ": key 'tokenizer.ggml.tokens' is empty");
  s.types.assign(n, PieceType::normal);
  if (f.has("tokenizer.ggml.token_type")) {
    auto types = f.get_int_array("tokenizer.ggml.token_type");
    if (types.size() != n)
      fail("gguf_vocab", path, ": key 'tokenizer.ggml.token_type' has ", types.size(),
           " entries for ", n, " tokens");
    for (size_t i = 0; i < n; ++i) {
      if (types[i] < 0 || types[i] > 6)
        fail("gguf_vocab", path, ": key 'tokenizer.ggml.token_type' entry ", i, " is ", types[i],
             " (valid: 0..6)");
      s.types[i] = types[i] == 0 ? PieceType::normal : static_cast<PieceType>(types[i]);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const PieceType t = s.types[i];
    if (t == PieceType::control || t == PieceType::unknown || t == PieceType::user_defined) {
      if (s.pieces[i].empty()) continue;
      AddedToken a;
      a.content = s.pieces[i];
      a.id = static_cast<int32_t>(i);
      a.special = t != PieceType::user_defined;
      s.added_tokens.push_back(a);
    }
  }

  if (model == "llama") {
    s.kind = "gguf-llama";
    s.model = ModelKind::sentencepiece_bpe;
    if (f.has("tokenizer.ggml.scores")) {
      s.scores = f.get_f32_array("tokenizer.ggml.scores");
      if (s.scores.size() != n)
        fail("gguf_vocab", path, ": key 'tokenizer.ggml.scores' has ", s.scores.size(),
             " entries for ", n, " tokens");
    } else {
      s.scores.assign(n, 0.0f);
    }
    s.byte_fallback = true;
    s.unk_id = optional_id(f, "tokenizer.ggml.unknown_token_id", 0, n);
    s.bos_id = optional_id(f, "tokenizer.ggml.bos_token_id", 1, n);
    s.eos_id = optional_id(f, "tokenizer.ggml.eos_token_id", 2, n);
    s.pad_id = optional_id(f, "tokenizer.ggml.padding_token_id", -1, n);
    s.add_bos = f.find_bool("tokenizer.ggml.add_bos_token").value_or(true);
    s.add_eos = f.find_bool("tokenizer.ggml.add_eos_token").value_or(false);
    const bool space_prefix = f.find_bool("tokenizer.ggml.add_space_prefix").value_or(true);
    NormalizerStep norm;
    norm.kind = NormalizerStep::Kind::sentencepiece;
    norm.add_dummy_prefix = space_prefix;
    norm.remove_extra_whitespaces = false;
    norm.escape_whitespaces = true;
    s.normalizers.push_back(norm);
    s.decoder.replacements.push_back({kSpaceSymbol, " "});
    s.decoder.byte_fallback = true;
    s.decoder.raw_added_tokens = true;
    if (space_prefix) s.decoder.strip = DecoderSpec::Strip::first_piece_space;
  } else if (model == "gpt2") {
    s.kind = "gguf-gpt2";
    s.model = ModelKind::merges_bpe;
    const std::string pre = f.find_string("tokenizer.ggml.pre").value_or("default");
    PreType pt;
    if (!pre_type(pre, &pt))
      fail("gguf_vocab", path, ": key 'tokenizer.ggml.pre' is '", pre,
           "', a pre-tokenizer this reader does not know (known: default, gpt-2, llama-bpe, "
           "qwen2, deepseek-coder, starcoder, falcon and their aliases)");
    if (!f.has("tokenizer.ggml.pre"))
      log_warn("[gguf_vocab] ", path, ": no tokenizer.ggml.pre; using llama.cpp's default pre-tokenizer");
    for (const auto& p : pt.patterns) {
      PreTokenizerStep st;
      st.kind = PreTokenizerStep::Kind::split;
      st.regex = std::make_shared<Regex>(p, path + ": tokenizer.ggml.pre '" + pre + "'");
      st.behavior = SplitBehavior::isolated;
      s.pre_tokenizers.push_back(st);
    }
    PreTokenizerStep bl;
    bl.kind = PreTokenizerStep::Kind::byte_level;
    bl.use_regex = false;
    s.pre_tokenizers.push_back(bl);
    s.ignore_merges = pt.ignore_merges;

    std::map<std::string, int32_t> index;
    for (size_t i = 0; i < n; ++i) index.emplace(s.pieces[i], static_cast<int32_t>(i));
    const auto merges = f.get_string_array("tokenizer.ggml.merges");
    for (size_t r = 0; r < merges.size(); ++r) {
      const std::string& m = merges[r];
      const size_t sp = m.find(' ', 1);
      if (sp == std::string::npos)
        fail("gguf_vocab", path, ": key 'tokenizer.ggml.merges' entry ", r, " ('", m,
             "') is not two tokens separated by a space");
      auto a = index.find(m.substr(0, sp)), b = index.find(m.substr(sp + 1));
      auto ab = index.find(m.substr(0, sp) + m.substr(sp + 1));
      if (a == index.end() || b == index.end() || ab == index.end()) {
        log_debug("[gguf_vocab] ", path, ": merge ", r, " ('", m, "') refers to a missing token; skipped");
        continue;
      }
      s.merges.emplace(merge_key(a->second, b->second),
                       std::make_pair(static_cast<int32_t>(r), ab->second));
    }
    s.unk_id = optional_id(f, "tokenizer.ggml.unknown_token_id", -1, n);
    s.bos_id = optional_id(f, "tokenizer.ggml.bos_token_id", -1, n);
    s.eos_id = optional_id(f, "tokenizer.ggml.eos_token_id", -1, n);
    s.pad_id = optional_id(f, "tokenizer.ggml.padding_token_id", -1, n);
    s.add_bos = f.find_bool("tokenizer.ggml.add_bos_token").value_or(pt.add_bos);
    s.add_eos = f.find_bool("tokenizer.ggml.add_eos_token").value_or(false);
    if (s.bos_id < 0) s.add_bos = false;
    if (s.eos_id < 0) s.add_eos = false;
    s.decoder.byte_level = true;
    s.decoder.raw_added_tokens = true;
  } else {
    fail("gguf_vocab", path, ": key 'tokenizer.ggml.model' is '", model,
         "'; only 'llama' (SentencePiece BPE) and 'gpt2' (byte-level BPE) are supported");
  }
  return s;
}

}  // namespace et::tok
