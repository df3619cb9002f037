// Python function calls and literals, read into JSON and written back (python_calls.h). A small
// recursive-descent reader of the subset of Python that function calls are written in.
#include "edgetune/eval/python_calls.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>

#include "edgetune/core/error.h"

namespace et {

namespace {

using ojson = nlohmann::ordered_json;

bool is_one_of(char c, const char* set) {
  for (; *set; ++set)
    if (c == *set) return true;
  return false;
}
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool ident_start(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalpha(u) || c == '_' || u >= 0x80;  // bytes of UTF-8 letters too
}
bool ident_char(char c) { return ident_start(c) || std::isdigit(static_cast<unsigned char>(c)); }
int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Reader {
 public:
  Reader(const std::string& s, size_t begin, size_t end) : s_(s), pos_(begin), end_(end) {}

  [[noreturn]] void error(const std::string& what) const { fail("python_calls", "column ", pos_ + 1, ": ", what); }

  // Whitespace, comments and backslash line continuations.
  void skip_space() {
    while (pos_ < end_) {
      const char c = s_[pos_];
      if (is_space(c)) {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < end_ && s_[pos_] != '\n') ++pos_;
      } else if (c == '\\' && pos_ + 1 < end_ && s_[pos_ + 1] == '\n') {
        pos_ += 2;
      } else {
        break;
      }
    }
  }
  bool at_end() {
    skip_space();
    return pos_ >= end_;
  }
  bool next_is(char c) {
    skip_space();
    return pos_ < end_ && s_[pos_] == c;
  }
  bool eat(char c) {
    if (!next_is(c)) return false;
    ++pos_;
    return true;
  }
  void expect(char c, const std::string& what) {
    if (!eat(c)) error("expected " + what);
  }

  std::string identifier() {
    const size_t b = pos_;
    while (pos_ < end_ && ident_char(s_[pos_])) ++pos_;
    return s_.substr(b, pos_ - b);
  }
  // name(.name)*, at pos_ (an identifier start).
  std::string dotted_name() {
    std::string name = identifier();
    while (pos_ + 1 < end_ && s_[pos_] == '.' && ident_start(s_[pos_ + 1])) {
      ++pos_;
      name += "." + identifier();
    }
    return name;
  }

  ToolCall call() {
    skip_space();
    if (pos_ >= end_ || !ident_start(s_[pos_])) error("expected a function call");
    ToolCall tc;
    tc.name = dotted_name();
    expect('(', "'(' after the function name '" + tc.name + "'");
    while (!eat(')')) {
      skip_space();
      const size_t arg_start = pos_;
      std::string key;
      if (pos_ < end_ && ident_start(s_[pos_])) key = identifier();
      skip_space();
      if (key.empty() || pos_ >= end_ || s_[pos_] != '=' || (pos_ + 1 < end_ && s_[pos_ + 1] == '=')) {
        pos_ = arg_start;
        error("a positional argument in the call of '" + tc.name + "' (only keyword arguments name=value are read)");
      }
      ++pos_;
      if (tc.arguments.contains(key)) error("keyword argument '" + key + "' repeated");
      tc.arguments[key] = value();
      if (eat(',')) continue;
      if (eat(')')) break;
      error("expected ',' or ')' in the call of '" + tc.name + "'");
    }
    return tc;
  }

  ojson value() {
    skip_space();
    if (pos_ >= end_) error("expected a value, got the end of the text");
    const char c = s_[pos_];
    if (c == '[') return sequence('[', ']', false);
    if (c == '(') return sequence('(', ')', true);
    if (c == '{') return dict();
    if (c == '-' || c == '+') {
      ++pos_;
      ojson v = value();
      if (!v.is_number() || v.is_boolean()) error(std::string("unary '") + c + "' on something that is not a number");
      if (c == '+') return v;
      if (v.is_number_float()) return -v.get<double>();
      return -v.get<int64_t>();
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && pos_ + 1 < end_ && std::isdigit(static_cast<unsigned char>(s_[pos_ + 1]))))
      return number();
    if (string_start()) return strings();
    if (ident_start(c)) return name();
    error(std::string("expected a value, got '") + c + "'");
  }

 private:
  const std::string& s_;
  size_t pos_, end_;

  // [a, b] or (a, b); "(a)" is a in parentheses, "(a,)" a tuple of one.
  ojson sequence(char open, char close, bool tuple) {
    expect(open, std::string("'") + open + "'");
    ojson out = ojson::array();
    bool trailing_comma = false;
    while (!eat(close)) {
      out.push_back(value());
      trailing_comma = false;
      if (eat(',')) {
        trailing_comma = true;
        continue;
      }
      if (eat(close)) break;
      error(std::string("expected ',' or '") + close + "'");
    }
    if (tuple && out.size() == 1 && !trailing_comma) return out[0];
    return out;
  }

  ojson dict() {
    expect('{', "'{'");
    ojson out = ojson::object();
    while (!eat('}')) {
      const ojson key = value();
      if (!next_is(':'))
        error(next_is(',') || next_is('}') ? "a set is not a supported value" : "expected ':' in a dict");
      ++pos_;
      if (!key.is_string()) error("dict keys must be strings, got " + key.dump());
      out[key.get<std::string>()] = value();
      if (eat(',')) continue;
      if (eat('}')) break;
      error("expected ',' or '}' in a dict");
    }
    return out;
  }

  ojson number() {
    const size_t b = pos_;
    if (s_[pos_] == '0' && pos_ + 1 < end_ && is_one_of(s_[pos_ + 1], "xXoObB")) {
      const char kind = static_cast<char>(std::tolower(static_cast<unsigned char>(s_[pos_ + 1])));
      const int base = kind == 'x' ? 16 : kind == 'o' ? 8 : 2;
      pos_ += 2;
      uint64_t v = 0;
      int digits = 0;
      for (; pos_ < end_ && (ident_char(s_[pos_])); ++pos_) {
        if (s_[pos_] == '_') continue;
        const int d = hex_digit(s_[pos_]);
        if (d < 0 || d >= base) error("invalid digit in " + s_.substr(b, pos_ + 1 - b));
        if (v > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - d) / base)
          error("integer " + s_.substr(b, pos_ + 1 - b) + "... does not fit in 64 bits");
        v = v * base + d;
        ++digits;
      }
      if (digits == 0) error("a number with no digits");
      return static_cast<int64_t>(v);
    }
    std::string digits;
    bool is_float = false;
    auto take_digits = [&] {
      while (pos_ < end_ && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) {
        if (s_[pos_] != '_') digits += s_[pos_];
        ++pos_;
      }
    };
    take_digits();
    if (pos_ < end_ && s_[pos_] == '.') {
      is_float = true;
      digits += s_[pos_++];
      take_digits();
    }
    if (pos_ < end_ && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      is_float = true;
      digits += 'e';
      ++pos_;
      if (pos_ < end_ && (s_[pos_] == '+' || s_[pos_] == '-')) digits += s_[pos_++];
      const size_t before = digits.size();
      take_digits();
      if (digits.size() == before) error("an exponent with no digits in " + s_.substr(b, pos_ - b));
    }
    if (pos_ < end_ && (s_[pos_] == 'j' || s_[pos_] == 'J')) error("complex numbers are not supported");
    if (pos_ < end_ && ident_char(s_[pos_])) error("invalid number " + s_.substr(b, pos_ + 1 - b));
    if (is_float) {
      const double d = std::strtod(digits.c_str(), nullptr);
      if (!std::isfinite(d)) error("the number " + s_.substr(b, pos_ - b) + " is out of range");
      return d;
    }
    uint64_t v = 0;
    for (char d : digits) {
      const int x = d - '0';
      if (v > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - x) / 10)
        error("integer " + s_.substr(b, pos_ - b) + " does not fit in 64 bits");
      v = v * 10 + x;
    }
    return static_cast<int64_t>(v);
  }

  // Length of a string prefix (r, u, R, U) at pos_ followed by a quote, or -1.
  int prefix_length() const {
    const size_t p = pos_ < end_ && is_one_of(s_[pos_], "rRuU") ? pos_ + 1 : pos_;
    if (p < end_ && (s_[p] == '\'' || s_[p] == '"')) return static_cast<int>(p - pos_);
    return -1;
  }
  bool string_start() const { return pos_ < end_ && prefix_length() >= 0; }

  // One literal or several adjacent ones ('a' "b" == 'ab').
  ojson strings() {
    std::string out;
    do out += string_literal();
    while ((skip_space(), string_start()));
    return out;
  }

  std::string string_literal() {
    const size_t b = pos_;
    bool raw = false;
    if (prefix_length() == 1) {
      raw = s_[pos_] == 'r' || s_[pos_] == 'R';
      ++pos_;
    }
    const char q = s_[pos_];
    const bool triple = pos_ + 2 < end_ && s_[pos_ + 1] == q && s_[pos_ + 2] == q;
    pos_ += triple ? 3 : 1;
    std::string out;
    while (true) {
      if (pos_ >= end_) {
        pos_ = b;
        error("unterminated string");
      }
      const char c = s_[pos_];
      if (c == q && (!triple || (pos_ + 2 < end_ && s_[pos_ + 1] == q && s_[pos_ + 2] == q))) {
        pos_ += triple ? 3 : 1;
        return out;
      }
      if (c == '\n' && !triple) {
        pos_ = b;
        error("unterminated string (a newline inside a one-line string)");
      }
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      if (pos_ + 1 >= end_) {
        pos_ = b;
        error("unterminated string");
      }
      const char e = s_[pos_ + 1];
      if (raw) {  // the backslash stays; it only keeps a quote from closing the string
        out += c;
        out += e;
        pos_ += 2;
        continue;
      }
      pos_ += 2;
      switch (e) {
        case '\n': break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x': append_utf8(out, hex_escape(2)); break;
        case 'u':
        case 'U': {
          uint32_t cp = hex_escape(e == 'u' ? 4 : 8);
          if (cp >= 0xD800 && cp <= 0xDBFF && pos_ + 1 < end_ && s_[pos_] == '\\' && s_[pos_ + 1] == 'u') {
            pos_ += 2;
            const uint32_t low = hex_escape(4);
            if (low < 0xDC00 || low > 0xDFFF) error("a high surrogate \\u escape without its low half");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            error("a lone surrogate in a \\u escape");
          }
          if (cp > 0x10FFFF) error("\\U escape beyond U+10FFFF");
          append_utf8(out, cp);
          break;
        }
        case 'N': error("\\N{...} escapes are not supported");
        default:
          if (e >= '0' && e <= '7') {
            uint32_t v = static_cast<uint32_t>(e - '0');
            for (int i = 0; i < 2 && pos_ < end_ && s_[pos_] >= '0' && s_[pos_] <= '7'; ++i)
              v = v * 8 + static_cast<uint32_t>(s_[pos_++] - '0');
            append_utf8(out, v);
          } else {  // an unknown escape keeps its backslash, as in Python
            out += '\\';
            out += e;
          }
      }
    }
  }

  uint32_t hex_escape(int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; ++i, ++pos_) {
      const int d = pos_ < end_ ? hex_digit(s_[pos_]) : -1;
      if (d < 0) error("a \\x, \\u or \\U escape needs " + std::to_string(n) + " hex digits");
      v = v * 16 + static_cast<uint32_t>(d);
    }
    return v;
  }

  // True, False, None, or a name (a variable) or subscript of one, kept as its source text.
  ojson name() {
    const size_t b = pos_;
    const std::string n = dotted_name();
    if (n == "True") return true;
    if (n == "False") return false;
    if (n == "None") return nullptr;
    while (pos_ < end_ && s_[pos_] == '[') skip_brackets();
    const size_t e = pos_;
    if (next_is('(')) error("a call as an argument value ('" + n + "(...)') is not supported");
    return s_.substr(b, e - b);
  }

  // Skips "[...]" at pos_ (nested brackets and strings inside respected).
  void skip_brackets() {
    int depth = 0;
    do {
      if (pos_ >= end_) error("unclosed '['");
      const char c = s_[pos_];
      if (string_start()) {
        string_literal();
        continue;
      }
      depth += c == '[' ? 1 : c == ']' ? -1 : 0;
      ++pos_;
    } while (depth > 0);
  }
};

void write_string(std::string& out, const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos, has_double = s.find('"') != std::string::npos;
  const char q = has_single && !has_double ? '"' : '\'';
  out += q;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == q || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  out += q;
}

void write_literal(std::string& out, const ojson& v) {
  if (v.is_null()) {
    out += "None";
  } else if (v.is_boolean()) {
    out += v.get<bool>() ? "True" : "False";
  } else if (v.is_number()) {
    const std::string d = v.dump();  // shortest round trip, "2.0" for a float with an integer value
    out += d == "null" ? "None" : d;
  } else if (v.is_string()) {
    write_string(out, v.get<std::string>());
  } else if (v.is_array()) {
    out += '[';
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out += ", ";
      write_literal(out, v[i]);
    }
    out += ']';
  } else {
    out += '{';
    bool first = true;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!first) out += ", ";
      first = false;
      write_string(out, it.key());
      out += ": ";
      write_literal(out, it.value());
    }
    out += '}';
  }
}

// [begin, end) of `text` without surrounding whitespace and backticks, and without the language
// tag of a ``` fence ("```python\n...```").
std::pair<size_t, size_t> strip_fences(const std::string& text) {
  size_t b = 0, e = text.size();
  auto strip = [&] {
    while (b < e && (is_space(text[b]) || text[b] == '`')) ++b;
    while (e > b && (is_space(text[e - 1]) || text[e - 1] == '`')) --e;
  };
  const size_t lead = text.find_first_not_of(" \t\r\n");
  const bool fenced = lead != std::string::npos && text.compare(lead, 3, "```") == 0;
  strip();
  if (fenced) {
    size_t p = b;
    while (p < e && std::isalpha(static_cast<unsigned char>(text[p]))) ++p;
    if (p > b && p < e && (text[p] == '\n' || text[p] == '\r')) {
      b = p;
      strip();
    }
  }
  return {b, e};
}

}  // namespace

std::vector<ToolCall> parse_python_calls(const std::string& text) {
  const auto [b, e] = strip_fences(text);
  Reader r(text, b, e);
  std::vector<ToolCall> calls;
  if (r.at_end()) return calls;
  if (r.eat('[')) {
    while (!r.eat(']')) {
      calls.push_back(r.call());
      if (r.eat(',')) continue;
      if (r.eat(']')) break;
      r.error("expected ',' or ']' after a call");
    }
    if (!r.at_end()) r.error("text after the closing ']'");
    return calls;
  }
  while (true) {
    calls.push_back(r.call());
    if (r.at_end()) break;
    r.expect(',', "',' between calls");
    if (r.at_end()) break;
  }
  return calls;
}

nlohmann::ordered_json parse_python_literal(const std::string& text) {
  Reader r(text, 0, text.size());
  ojson v = r.value();
  if (!r.at_end()) r.error("text after the value");
  return v;
}

std::string strip_code_fence(const std::string& text) {
  const auto [b, e] = strip_fences(text);
  return text.substr(b, e - b);
}

std::string python_literal(const nlohmann::ordered_json& value) {
  std::string out;
  write_literal(out, value);
  return out;
}

std::string python_calls_text(const std::vector<ToolCall>& calls) {
  std::string out = "[";
  for (size_t i = 0; i < calls.size(); ++i) {
    if (i) out += ", ";
    out += calls[i].name + "(";
    bool first = true;
    for (auto it = calls[i].arguments.begin(); it != calls[i].arguments.end(); ++it) {
      if (!first) out += ", ";
      first = false;
      out += it.key() + "=";
      write_literal(out, it.value());
    }
    out += ")";
  }
  return out + "]";
}

}  // namespace et
