// edgetune tokenize --tokenizer PATH [--text T] [--decode] [--special] [--escaped]
//   encode (default): one line of space-separated ids per input (--text T, else each stdin line);
//                     no BOS/EOS and special-token text stays text unless --special.
//   --decode:         inputs are lines of ids; prints their text (special tokens kept with
//                     --special, dropped otherwise).
//   --escaped:        inputs (and decoded outputs) use C escapes \n \t \r \\ \xHH, so text with
//                     newlines fits on one line.
// stdout carries only the results; errors go to stderr through main().
#include <climits>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "edgetune/core/error.h"
#include "edgetune/tokenize/tokenizer.h"

namespace et::cli {

namespace {

struct TokenizeOptions {
  std::string tokenizer;
  std::string text;
  bool has_text = false;
  bool decode = false;
  bool special = false;
  bool escaped = false;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string unescape(const std::string& s, const std::string& where) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i >= s.size()) fail("tokenize", where, ": a lone '\\' ends the line");
    switch (s[i]) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '\\': out += '\\'; break;
      case 'x': {
        int hi = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
        int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) fail("tokenize", where, ": \\x needs two hex digits");
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        break;
      }
      default: fail("tokenize", where, ": unknown escape '\\", s[i], "' (use \\n \\t \\r \\\\ \\xHH)");
    }
  }
  return out;
}

std::string escape(const std::string& s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (u < 0x20 || u == 0x7F) { out += "\\x"; out += hex[u >> 4]; out += hex[u & 15]; }
    else out += c;
  }
  return out;
}

std::vector<int32_t> parse_ids(const std::string& line, const std::string& where) {
  std::vector<int32_t> ids;
  std::istringstream in(line);
  std::string word;
  while (in >> word) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || v < INT32_MIN || v > INT32_MAX)
      fail("tokenize", where, ": '", word, "' is not a token id");
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

std::string process(const Tokenizer& tok, const TokenizeOptions& o, const std::string& input,
                    const std::string& where) {
  if (o.decode) {
    std::string text = tok.decode(parse_ids(input, where), !o.special);
    return o.escaped ? escape(text) : text;
  }
  const std::string text = o.escaped ? unescape(input, where) : input;
  std::string line;
  for (int32_t id : tok.encode(text, o.special, o.special)) {
    if (!line.empty()) line += ' ';
    line += std::to_string(id);
  }
  return line;
}

void run(const TokenizeOptions& o) {
  auto tok = load_tokenizer(o.tokenizer);
  if (o.has_text) {
    std::string out = process(*tok, o, o.text, "--text");
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
    return;
  }
  std::string line;
  for (size_t n = 1; std::getline(std::cin, line); ++n) {
    std::string out = process(*tok, o, line, "stdin line " + std::to_string(n));
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  std::fflush(stdout);
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Print the token ids of text (or, with --decode, the text of ids)");
  cmd->add_option("--tokenizer", o->tokenizer,
                  "tokenizer.model, tokenizer.json, a .gguf file or a model folder")
      ->required();
  CLI::Option* text = cmd->add_option("--text", o->text, "the input; without it, each stdin line");
  cmd->add_flag("--decode", o->decode, "inputs are space-separated ids; print their text");
  cmd->add_flag("--special", o->special,
                "add BOS/EOS as the tokenizer does and read special-token text as those tokens "
                "(with --decode: print special tokens)");
  cmd->add_flag("--escaped", o->escaped,
                "inputs and decoded text use the escapes \\n \\t \\r \\\\ \\xHH");
  cmd->callback([o, text] {
    o->has_text = text->count() > 0;
    run(*o);
  });
}

}  // namespace et::cli
