// Hugging Face tokenizer.json -> TokenizerSpec. Supported: model BPE (merges as "a b" strings or
// ["a", "b"] pairs, byte_fallback, ignore_merges, fuse_unk, unk_token); normalizers Sequence,
// Prepend, Replace (string or regex), NFC, Strip; pre-tokenizers Sequence, Split, Metaspace,
// ByteLevel, Digits; decoders Sequence, Replace (string), ByteFallback, Fuse, Strip, Metaspace,
// ByteLevel; added_tokens with their flags; BOS/EOS from a TemplateProcessing post-processor.
// Anything else is an error naming the file and the component, never a silent approximation.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/log.h"
#include "loaders.h"
#include "pretokenize.h"

namespace et::tok {

using nlohmann::json;

namespace {

struct Ctx {
  const std::string& path;
  [[noreturn]] void bad(const std::string& what) const { fail("tokenizer_json", path, ": ", what); }
};

bool get_bool(const json& j, const char* key, bool fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->is_boolean() ? it->get<bool>() : fallback;
}

std::string get_string(const Ctx& c, const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) c.bad(where + " lacks the string '" + key + "'");
  return it->get<std::string>();
}

// An optional string or integer field: absent or null gives `fallback`; another type is an error
// naming the key (never nlohmann's bare type_error).
std::string opt_string(const Ctx& c, const json& j, const char* key, const std::string& fallback,
                       const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_string()) c.bad(where + ": '" + key + "' should be a string, got " + it->dump());
  return it->get<std::string>();
}

int opt_int(const Ctx& c, const json& j, const char* key, int fallback, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > (1 << 20))
    c.bad(where + ": '" + key + "' should be a small non-negative integer, got " + it->dump());
  return it->get<int>();
}

// {"String": "x"} or {"Regex": "x"}: sets *literal or *regex.
void read_pattern(const Ctx& c, const json& j, const std::string& where, std::string* literal,
                  std::shared_ptr<const Regex>* regex) {
  auto it = j.find("pattern");
  if (it == j.end() || !it->is_object()) c.bad(where + " lacks a pattern");
  if (it->contains("String") && (*it)["String"].is_string()) {
    *literal = (*it)["String"].get<std::string>();
  } else if (it->contains("Regex") && (*it)["Regex"].is_string()) {
    *regex = std::make_shared<Regex>((*it)["Regex"].get<std::string>(), c.path + ": " + where);
  } else {
    c.bad(where + " has a pattern that is neither String nor Regex");
  }
}

void read_normalizer(const Ctx& c, const json& j, std::vector<NormalizerStep>& out) {
  if (j.is_null()) return;
  if (!j.is_object()) c.bad("normalizer is not an object");
  const std::string type = get_string(c, j, "type", "a normalizer");
  NormalizerStep st;
  if (type == "Sequence") {
    auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) c.bad("Sequence normalizer lacks 'normalizers'");
    for (const auto& x : *it) read_normalizer(c, x, out);
    return;
  } else if (type == "Prepend") {
    st.kind = NormalizerStep::Kind::prepend;
    st.text = get_string(c, j, "prepend", "Prepend normalizer");
  } else if (type == "Replace") {
    st.kind = NormalizerStep::Kind::replace;
    read_pattern(c, j, "Replace normalizer", &st.text, &st.regex);
    st.content = get_string(c, j, "content", "Replace normalizer");
  } else if (type == "NFC") {
    st.kind = NormalizerStep::Kind::nfc;
  } else if (type == "Strip") {
    st.kind = NormalizerStep::Kind::strip;
    st.left = get_bool(j, "strip_left", true);
    st.right = get_bool(j, "strip_right", true);
  } else {
    c.bad("normalizer type '" + type + "' is not supported (supported: Sequence, Prepend, Replace, NFC, Strip)");
  }
  out.push_back(std::move(st));
}

SplitBehavior read_behavior(const Ctx& c, const json& j) {
  const std::string b = opt_string(c, j, "behavior", "Isolated", "Split pre-tokenizer");
  if (b == "Isolated") return SplitBehavior::isolated;
  if (b == "Removed") return SplitBehavior::removed;
  if (b == "MergedWithPrevious") return SplitBehavior::merged_with_previous;
  if (b == "MergedWithNext") return SplitBehavior::merged_with_next;
  if (b == "Contiguous") return SplitBehavior::contiguous;
  c.bad("Split pre-tokenizer has unknown behavior '" + b + "'");
}

PreTokenizerStep::Prepend read_prepend_scheme(const Ctx& c, const json& j, const std::string& where) {
  if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) {
    const std::string p = j["prepend_scheme"].get<std::string>();
    if (p == "always") return PreTokenizerStep::Prepend::always;
    if (p == "first") return PreTokenizerStep::Prepend::first;
    if (p == "never") return PreTokenizerStep::Prepend::never;
    c.bad(where + " has unknown prepend_scheme '" + p + "'");
  }
  return get_bool(j, "add_prefix_space", true) ? PreTokenizerStep::Prepend::always
                                               : PreTokenizerStep::Prepend::never;
}

void read_pre_tokenizer(const Ctx& c, const json& j, std::vector<PreTokenizerStep>& out) {
  if (j.is_null()) return;
  if (!j.is_object()) c.bad("pre_tokenizer is not an object");
  const std::string type = get_string(c, j, "type", "a pre-tokenizer");
  PreTokenizerStep st;
  if (type == "Sequence") {
    auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array()) c.bad("Sequence pre-tokenizer lacks 'pretokenizers'");
    for (const auto& x : *it) read_pre_tokenizer(c, x, out);
    return;
  } else if (type == "Split") {
    st.kind = PreTokenizerStep::Kind::split;
    std::string literal;
    read_pattern(c, j, "Split pre-tokenizer", &literal, &st.regex);
    if (!st.regex) st.regex = std::make_shared<Regex>(regex_escape(literal), c.path + ": Split pre-tokenizer");
    st.behavior = read_behavior(c, j);
    st.invert = get_bool(j, "invert", false);
  } else if (type == "Metaspace") {
    st.kind = PreTokenizerStep::Kind::metaspace;
    st.replacement = get_string(c, j, "replacement", "Metaspace pre-tokenizer");
    st.prepend = read_prepend_scheme(c, j, "Metaspace pre-tokenizer");
    st.split = get_bool(j, "split", true);
  } else if (type == "ByteLevel") {
    st.kind = PreTokenizerStep::Kind::byte_level;
    st.add_prefix_space = get_bool(j, "add_prefix_space", false);
    st.use_regex = get_bool(j, "use_regex", true);
  } else if (type == "Digits") {
    st.kind = PreTokenizerStep::Kind::digits;
    st.individual_digits = get_bool(j, "individual_digits", false);
  } else {
    c.bad("pre-tokenizer type '" + type +
          "' is not supported (supported: Sequence, Split, Metaspace, ByteLevel, Digits)");
  }
  out.push_back(std::move(st));
}

void read_decoder(const Ctx& c, const json& j, DecoderSpec& d) {
  if (j.is_null()) return;
  if (!j.is_object()) c.bad("decoder is not an object");
  const std::string type = get_string(c, j, "type", "a decoder");
  if (type == "Sequence") {
    auto it = j.find("decoders");
    if (it == j.end() || !it->is_array()) c.bad("Sequence decoder lacks 'decoders'");
    for (const auto& x : *it) read_decoder(c, x, d);
  } else if (type == "Replace") {
    std::string literal;
    std::shared_ptr<const Regex> regex;
    read_pattern(c, j, "Replace decoder", &literal, &regex);
    if (regex) c.bad("Replace decoder with a Regex pattern is not supported");
    d.replacements.push_back({literal, get_string(c, j, "content", "Replace decoder")});
  } else if (type == "ByteFallback") {
    d.byte_fallback = true;
    d.byte_runs_whole = true;
  } else if (type == "Fuse") {
  } else if (type == "Strip") {
    if (opt_string(c, j, "content", " ", "Strip decoder") != " ") c.bad("Strip decoder only supports content ' '");
    d.strip = DecoderSpec::Strip::leading;
    d.strip_start = opt_int(c, j, "start", 0, "Strip decoder");
    d.strip_stop = opt_int(c, j, "stop", 0, "Strip decoder");
  } else if (type == "Metaspace") {
    const std::string rep = get_string(c, j, "replacement", "Metaspace decoder");
    d.replacements.push_back({rep, " "});
    d.metaspace_replacement = rep;
    if (read_prepend_scheme(c, j, "Metaspace decoder") != PreTokenizerStep::Prepend::never)
      d.strip = DecoderSpec::Strip::metaspace_first_token;
  } else if (type == "ByteLevel") {
    d.byte_level = true;
  } else {
    c.bad("decoder type '" + type +
          "' is not supported (supported: Sequence, Replace, ByteFallback, Fuse, Strip, Metaspace, ByteLevel)");
  }
}

bool is_byte_piece(const std::string& p) {
  auto hex = [](char ch) { return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F'); };
  return p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>' && hex(p[3]) && hex(p[4]);
}

// The id of a special token named in TemplateProcessing ("<s>" or its entry in special_tokens).
int32_t template_token_id(const json& post, const std::string& name, const TokenizerSpec& s) {
  auto st = post.find("special_tokens");
  if (st != post.end() && st->is_object() && st->contains(name)) {
    const json& e = (*st)[name];
    if (e.contains("ids") && e["ids"].is_array() && e["ids"].size() == 1 && e["ids"][0].is_number_integer())
      return e["ids"][0].get<int32_t>();
  }
  for (size_t i = 0; i < s.pieces.size(); ++i)
    if (s.pieces[i] == name) return static_cast<int32_t>(i);
  return -1;
}

void read_post_processor(const Ctx& c, const json& post, TokenizerSpec& s) {
  if (!post.is_object()) return;
  const std::string type = opt_string(c, post, "type", "", "post_processor");
  if (type == "Sequence" && post.contains("processors") && post["processors"].is_array()) {
    for (const auto& p : post["processors"]) read_post_processor(c, p, s);
    return;
  }
  if (type != "TemplateProcessing" || !post.contains("single") || !post["single"].is_array()) return;
  const json& single = post["single"];
  auto special_of = [&](const json& item) -> int32_t {
    if (!item.is_object() || !item.contains("SpecialToken")) return -2;
    const json& st = item["SpecialToken"];
    if (!st.contains("id") || !st["id"].is_string()) return -1;
    return template_token_id(post, st["id"].get<std::string>(), s);
  };
  if (!single.empty()) {
    int32_t first = special_of(single.front());
    if (first >= 0) {
      s.bos_id = first;
      s.add_bos = true;
    }
    int32_t last = special_of(single.back());
    if (single.size() > 1 && last >= 0) {
      s.eos_id = last;
      s.add_eos = true;
    }
  }
}

}  // namespace

namespace {

TokenizerSpec read_tokenizer_json(const std::string& path, size_t* model_vocab_size) {
  Ctx c{path};
  json j;
  try {
    j = json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    c.bad(std::string("not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) c.bad("not a JSON object");
  auto mit = j.find("model");
  if (mit == j.end() || !mit->is_object()) c.bad("no 'model' object");
  const json& model = *mit;
  const std::string mtype = opt_string(c, model, "type", model.contains("merges") ? "BPE" : "", "model");
  if (mtype != "BPE")
    c.bad("model type '" + mtype + "' is not supported (only BPE)");
  auto vit = model.find("vocab");
  if (vit == model.end() || !vit->is_object()) c.bad("model has no 'vocab' object");
  if (model.contains("continuing_subword_prefix") && model["continuing_subword_prefix"].is_string() &&
      !model["continuing_subword_prefix"].get<std::string>().empty())
    c.bad("BPE continuing_subword_prefix is not supported");
  if (model.contains("end_of_word_suffix") && model["end_of_word_suffix"].is_string() &&
      !model["end_of_word_suffix"].get<std::string>().empty())
    c.bad("BPE end_of_word_suffix is not supported");
  if (model.contains("dropout") && model["dropout"].is_number() && model["dropout"].get<double>() > 0)
    log_warn("[tokenizer_json] ", path, ": BPE dropout is ignored (deterministic encoding)");

  TokenizerSpec s;
  s.path = path;
  s.model = ModelKind::merges_bpe;
  int64_t max_id = -1;
  for (auto it = vit->begin(); it != vit->end(); ++it) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > (1 << 30))
      c.bad("vocab entry '" + it.key() + "' has an invalid id");
    max_id = std::max(max_id, it->get<int64_t>());
  }
  if (model_vocab_size) *model_vocab_size = vit->size();
  std::vector<AddedToken> added;
  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    if (!j["added_tokens"].is_array()) c.bad("'added_tokens' is not an array");
    for (const auto& a : j["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || a["id"].get<int64_t>() < 0 ||
          a["id"].get<int64_t>() > (1 << 30) || !a.contains("content") || !a["content"].is_string())
        c.bad("an added token lacks a valid id or content");
      AddedToken t;
      t.id = a["id"].get<int32_t>();
      t.content = a["content"].get<std::string>();
      t.special = get_bool(a, "special", false);
      t.lstrip = get_bool(a, "lstrip", false);
      t.rstrip = get_bool(a, "rstrip", false);
      t.single_word = get_bool(a, "single_word", false);
      t.normalized = get_bool(a, "normalized", !t.special);
      max_id = std::max<int64_t>(max_id, t.id);
      added.push_back(t);
    }
  }
  if (max_id < 0) c.bad("the vocabulary is empty");
  s.pieces.assign(max_id + 1, std::string());
  s.types.assign(max_id + 1, PieceType::unused);
  s.byte_fallback = get_bool(model, "byte_fallback", false);
  for (auto it = vit->begin(); it != vit->end(); ++it) {
    const auto id = it->get<int32_t>();
    s.pieces[id] = it.key();
    s.types[id] = PieceType::normal;
  }
  read_decoder(c, j.value("decoder", json()), s.decoder);
  for (size_t i = 0; i < s.pieces.size(); ++i)
    if (s.types[i] == PieceType::normal && (s.byte_fallback || s.decoder.byte_fallback) &&
        is_byte_piece(s.pieces[i]))
      s.types[i] = PieceType::byte;
  s.added_only.assign(s.pieces.size(), false);
  for (const auto& t : added) {
    if (s.types[t.id] == PieceType::unused) s.added_only[t.id] = true;  // not in model.vocab
    s.pieces[t.id] = t.content;
    s.types[t.id] = t.special ? PieceType::control : PieceType::user_defined;
    s.added_tokens.push_back(t);
  }
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const std::string unk = model["unk_token"].get<std::string>();
    auto u = vit->find(unk);
    if (u == vit->end()) c.bad("unk_token '" + unk + "' is not in the vocabulary");
    s.unk_id = u->get<int32_t>();
    s.types[s.unk_id] = PieceType::unknown;
  }
  s.fuse_unk = get_bool(model, "fuse_unk", false);
  s.ignore_merges = get_bool(model, "ignore_merges", false);

  if (model.contains("merges") && !model["merges"].is_null()) {
    const json& merges = model["merges"];
    if (!merges.is_array()) c.bad("model 'merges' is not an array");
    for (size_t r = 0; r < merges.size(); ++r) {
      const json& m = merges[r];
      std::string a, b;
      if (m.is_string()) {
        // "a b". Some converted SentencePiece vocabularies hold pieces made of spaces, so
        // "     " can only be read by trying each space as the separator: the first split whose
        // two halves and their concatenation are all tokens wins (("  ", "  ") here).
        const std::string line = m.get<std::string>();
        bool found = false;
        for (size_t sp = line.find(' ', 1); sp != std::string::npos && sp + 1 < line.size();
             sp = line.find(' ', sp + 1)) {
          a = line.substr(0, sp);
          b = line.substr(sp + 1);
          if (vit->contains(a) && vit->contains(b) && vit->contains(a + b)) {
            found = true;
            break;
          }
        }
        if (!found)
          c.bad("merge " + std::to_string(r) + " ('" + line + "') is not two tokens of the vocabulary "
                "separated by a space");
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        a = m[0].get<std::string>();
        b = m[1].get<std::string>();
      } else {
        c.bad("merge " + std::to_string(r) + " is neither \"a b\" nor [\"a\", \"b\"]");
      }
      auto ia = vit->find(a), ib = vit->find(b), iab = vit->find(a + b);
      if (ia == vit->end() || ib == vit->end() || iab == vit->end())
        c.bad("merge " + std::to_string(r) + " ('" + a + "', '" + b + "') uses a token that is not in the vocabulary");
      // Later duplicates replace earlier ones, as in tokenizers' HashMap construction.
      s.merges[merge_key(ia->get<int32_t>(), ib->get<int32_t>())] = {static_cast<int32_t>(r),
                                                                     iab->get<int32_t>()};
    }
  }

  read_normalizer(c, j.value("normalizer", json()), s.normalizers);
  read_pre_tokenizer(c, j.value("pre_tokenizer", json()), s.pre_tokenizers);
  read_post_processor(c, j.value("post_processor", json()), s);

  bool byte_level = s.decoder.byte_level;
  for (const auto& p : s.pre_tokenizers) byte_level = byte_level || p.kind == PreTokenizerStep::Kind::byte_level;
  s.kind = byte_level ? "hf-byte-level-bpe" : "hf-bpe";

  // Without a template, guess EOS / BOS from the usual names (tokenizer_config.json overrides).
  auto find_piece = [&](std::initializer_list<const char*> names) -> int32_t {
    for (const char* nm : names)
      for (size_t i = 0; i < s.pieces.size(); ++i)
        if (s.pieces[i] == nm) return static_cast<int32_t>(i);
    return -1;
  };
  if (s.eos_id < 0) s.eos_id = find_piece({"</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>"});
  if (s.bos_id < 0) s.bos_id = find_piece({"<s>", "<|begin_of_text|>", "<bos>"});
  return s;
}

}  // namespace

TokenizerSpec spec_from_tokenizer_json(const std::string& path, size_t* model_vocab_size) {
  try {
    return read_tokenizer_json(path, model_vocab_size);
  } catch (const json::exception& e) {
    // A value of a type no reader above foresaw: still an error naming the file.
    fail("tokenizer_json", path, ": unexpected value (", e.what(), ")");
  }
}

}  // namespace et::tok
