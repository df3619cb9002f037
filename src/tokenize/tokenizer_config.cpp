// tokenizer_config.json (transformers) on top of a tokenizer: added_tokens_decoder entries
// ({"<id>": {"content", "special", "lstrip", "rstrip", "single_word", "normalized"}}) define or
// redefine added tokens; bos_token / eos_token / pad_token / unk_token (a string or an
// {"content": ...} object) name the special ids; add_bos_token / add_eos_token switch BOS/EOS.
#include <nlohmann/json.hpp>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/log.h"
#include "loaders.h"

namespace et::tok {

using nlohmann::json;

namespace {

bool flag(const json& j, const char* key, bool fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

int32_t find_piece(const TokenizerSpec& s, const std::string& text) {
  for (const auto& t : s.added_tokens)
    if (t.content == text) return t.id;
  for (size_t i = 0; i < s.pieces.size(); ++i)
    if (s.pieces[i] == text) return static_cast<int32_t>(i);
  return -1;
}

}  // namespace

void apply_tokenizer_config(TokenizerSpec& s, const std::string& path) {
  json cfg;
  try {
    cfg = json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    fail("tokenizer_config", path, ": not valid JSON (", e.what(), ")");
  }
  if (!cfg.is_object()) fail("tokenizer_config", path, ": not a JSON object");

  if (cfg.contains("added_tokens_decoder") && cfg["added_tokens_decoder"].is_object()) {
    for (auto it = cfg["added_tokens_decoder"].begin(); it != cfg["added_tokens_decoder"].end(); ++it) {
      int64_t id = -1;
      try {
        size_t used = 0;
        id = std::stoll(it.key(), &used);
        if (used != it.key().size()) id = -1;
      } catch (const std::exception&) {
      }
      if (id < 0 || id > (1 << 30))
        fail("tokenizer_config", path, ": added_tokens_decoder key '", it.key(), "' is not a token id");
      const json& e = *it;
      if (!e.is_object() || !e.contains("content") || !e["content"].is_string())
        fail("tokenizer_config", path, ": added_tokens_decoder entry ", id, " lacks a content string");
      AddedToken t;
      t.id = static_cast<int32_t>(id);
      t.content = e["content"].get<std::string>();
      t.special = flag(e, "special", false);
      t.lstrip = flag(e, "lstrip", false);
      t.rstrip = flag(e, "rstrip", false);
      t.single_word = flag(e, "single_word", false);
      t.normalized = flag(e, "normalized", !t.special);
      if (t.content.empty()) continue;
      if (t.id >= static_cast<int32_t>(s.pieces.size())) {
        s.pieces.resize(t.id + 1);
        s.types.resize(t.id + 1, PieceType::unused);
        if (!s.scores.empty()) s.scores.resize(t.id + 1, 0.0f);
      }
      if (s.added_only.empty()) s.added_only.assign(s.pieces.size(), false);
      s.added_only.resize(s.pieces.size(), false);
      if (s.types[t.id] == PieceType::unused) s.added_only[t.id] = true;
      // A tokenizer.model's normalizer escapes spaces itself: match its added tokens verbatim.
      if (!s.normalizers.empty() && s.normalizers.front().kind == NormalizerStep::Kind::sentencepiece)
        t.normalized = false;
      s.pieces[t.id] = t.content;
      if (s.types[t.id] != PieceType::unknown)
        s.types[t.id] = t.special ? PieceType::control : PieceType::user_defined;
      bool replaced = false;
      for (auto& old : s.added_tokens) {
        if (old.id == t.id) {
          old = t;
          replaced = true;
        }
      }
      if (!replaced) s.added_tokens.push_back(t);
    }
  }

  auto named = [&](const char* key, int32_t* id) {
    auto it = cfg.find(key);
    if (it == cfg.end() || it->is_null()) return;
    std::string text;
    if (it->is_string()) text = it->get<std::string>();
    else if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
      text = (*it)["content"].get<std::string>();
    else fail("tokenizer_config", path, ": '", key, "' is neither a string nor an object with content");
    const int32_t found = find_piece(s, text);
    if (found < 0) {
      log_warn("[tokenizer_config] ", path, ": ", key, " '", text, "' is not in the vocabulary; ignored");
      return;
    }
    *id = found;
  };
  named("bos_token", &s.bos_id);
  named("eos_token", &s.eos_id);
  named("pad_token", &s.pad_id);
  named("unk_token", &s.unk_id);
  if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean())
    s.add_bos = cfg["add_bos_token"].get<bool>();
  if (cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean())
    s.add_eos = cfg["add_eos_token"].get<bool>();
  if (s.add_bos && s.bos_id < 0) {
    log_warn("[tokenizer_config] ", path, ": add_bos_token is set but there is no BOS token; not adding one");
    s.add_bos = false;
  }
  if (s.add_eos && s.eos_id < 0) {
    log_warn("[tokenizer_config] ", path, ": add_eos_token is set but there is no EOS token; not adding one");
    s.add_eos = false;
  }
}

}  // namespace et::tok
