// The call grammar (call_grammar.h): the tools' schemas compiled, the syntax as a small program
// of steps (literal bytes, optional whitespace, the function name, the arguments), the text
// between calls, and the completion length of a state. The JSON values themselves are matched in
// json_match.cpp.
#include "edgetune/eval/call_grammar.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "edgetune/core/error.h"

namespace et {

namespace {

using ojson = nlohmann::ordered_json;

constexpr int64_t kFar = std::numeric_limits<int32_t>::max() / 4;
const char kTag[] = "<tool_call>";  // 11 bytes
const char kAction[] = "Action:";   // 7 bytes

bool is_letter(uint8_t b) { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z'); }

void set_bit(std::array<uint64_t, 4>& set, int b) { set[static_cast<size_t>(b >> 6)] |= 1ull << (b & 63); }

uint8_t parse_type_name(const std::string& t) {
  if (t == "string" || t == "str") return SchemaNode::string;
  if (t == "integer" || t == "int") return SchemaNode::integer;
  if (t == "number" || t == "float" || t == "double") return SchemaNode::number;
  if (t == "boolean" || t == "bool") return SchemaNode::boolean;
  if (t == "null") return SchemaNode::null;
  if (t == "array" || t == "list" || t == "tuple") return SchemaNode::array;
  if (t == "object" || t == "dict") return SchemaNode::object;
  return SchemaNode::any;
}

const ojson& function_of(const ojson& tool) {
  return tool.is_object() && tool.contains("function") && tool["function"].is_object() ? tool["function"] : tool;
}

}  // namespace

const char* call_syntax_name(CallSyntax s) {
  switch (s) {
    case CallSyntax::hermes: return "hermes";
    case CallSyntax::llama3_json: return "llama3_json";
    case CallSyntax::react: return "react";
  }
  return "?";
}

CallSyntax call_syntax_for(ChatTemplate tmpl, bool react) {
  if (react) return CallSyntax::react;
  return tmpl == ChatTemplate::llama3 ? CallSyntax::llama3_json : CallSyntax::hermes;
}

void copy_state(CallState& dst, const CallState& src) {
  std::memcpy(static_cast<void*>(&dst), &src, offsetof(CallState, frames) + sizeof(JsonFrame) * static_cast<size_t>(src.depth));
}

LiteralTrie::LiteralTrie(std::vector<std::string> words) : word_list(std::move(words)) {
  nodes.emplace_back();
  for (size_t w = 0; w < word_list.size(); ++w) {
    int32_t at = 0;
    for (unsigned char b : word_list[w]) {
      int32_t c = child(at, b);
      if (c < 0) {
        c = static_cast<int32_t>(nodes.size());
        Node n;
        n.depth = nodes[static_cast<size_t>(at)].depth + 1;
        nodes.push_back(n);
        auto& ch = nodes[static_cast<size_t>(at)].children;
        ch.insert(std::upper_bound(ch.begin(), ch.end(), std::make_pair(b, int32_t{-1}),
                                   [](const auto& x, const auto& y) { return x.first < y.first; }),
                  {b, c});
      }
      at = c;
    }
    if (nodes[static_cast<size_t>(at)].word < 0) nodes[static_cast<size_t>(at)].word = static_cast<int32_t>(w);
  }
  // Children are created after their parents: one backward pass settles every subtree.
  for (size_t i = nodes.size(); i-- > 0;) {
    Node& n = nodes[i];
    n.nearest = n.word >= 0 ? 0 : static_cast<int32_t>(kFar);
    if (n.word >= 0 && n.word < 64) n.words |= 1ull << n.word;
    for (const auto& [b, c] : n.children) {
      n.nearest = std::min(n.nearest, nodes[static_cast<size_t>(c)].nearest + 1);
      n.words |= nodes[static_cast<size_t>(c)].words;
    }
  }
}

int32_t LiteralTrie::child(int32_t node, uint8_t byte) const {
  const auto& ch = nodes[static_cast<size_t>(node)].children;
  for (const auto& [b, c] : ch)
    if (b == byte) return c;
  return -1;
}

int32_t CallGrammar::add_trie(std::vector<std::string> words) {
  tries_.emplace_back(std::move(words));
  return static_cast<int32_t>(tries_.size() - 1);
}

int32_t CallGrammar::compile(const ojson& sch, const std::string& where, int depth) {
  if (depth > 32) fail("call_grammar", where, ": the schema nests deeper than 32 levels");
  if (!sch.is_object()) return 0;
  SchemaNode n;
  if (sch.contains("type")) {
    const ojson& t = sch["type"];
    uint8_t types = 0;
    if (t.is_string()) types = parse_type_name(t.get<std::string>());
    if (t.is_array())
      for (const auto& x : t)
        if (x.is_string()) types |= parse_type_name(x.get<std::string>());
    n.types = types ? types : static_cast<uint8_t>(SchemaNode::any);
  }
  if (sch.contains("enum") && sch["enum"].is_array() && !sch["enum"].empty()) {
    std::vector<std::string> words;
    for (const auto& v : sch["enum"]) {
      std::string w = python_json(v);
      if (std::find(words.begin(), words.end(), w) == words.end()) words.push_back(w);
    }
    n.min_len = static_cast<int32_t>(words[0].size());
    for (const auto& w : words) n.min_len = std::min(n.min_len, static_cast<int32_t>(w.size()));
    n.enum_trie = add_trie(std::move(words));
    nodes_.push_back(n);
    return static_cast<int32_t>(nodes_.size() - 1);
  }
  if ((n.types & SchemaNode::object) && sch.contains("properties") && sch["properties"].is_object()) {
    const ojson& props = sch["properties"];
    if (props.size() > 64) fail("call_grammar", where, ": ", props.size(), " properties in one object (at most 64)");
    std::vector<std::string> keys;
    for (auto it = props.begin(); it != props.end(); ++it) {
      keys.push_back(python_json(it.key()));
      n.props.push_back(compile(it.value(), where + "." + it.key(), depth + 1));
    }
    for (size_t k = 0; k < keys.size(); ++k) {
      n.all |= 1ull << k;
      n.key_cost.push_back(static_cast<int32_t>(keys[k].size()) + 1 + nodes_[static_cast<size_t>(n.props[k])].min_len);
    }
    if (sch.contains("required") && sch["required"].is_array())
      for (const auto& r : sch["required"]) {
        if (!r.is_string()) continue;
        auto it = std::find(keys.begin(), keys.end(), python_json(r));
        if (it != keys.end()) n.required |= 1ull << (it - keys.begin());
      }
    n.keys = add_trie(std::move(keys));
  }
  if ((n.types & SchemaNode::array) && sch.contains("items")) n.items = compile(sch["items"], where + "[]", depth + 1);
  int64_t m = kFar;
  if (n.types & (SchemaNode::integer | SchemaNode::number)) m = std::min<int64_t>(m, 1);
  if (n.types & (SchemaNode::string | SchemaNode::array)) m = std::min<int64_t>(m, 2);
  if (n.types & SchemaNode::object) m = std::min<int64_t>(m, n.required ? 1 + rest_cost(n, n.required) : 2);
  if (n.types & (SchemaNode::boolean | SchemaNode::null)) m = std::min<int64_t>(m, 4);
  n.min_len = static_cast<int32_t>(m);
  nodes_.push_back(n);
  return static_cast<int32_t>(nodes_.size() - 1);
}

CallGrammar::CallGrammar(CallSyntax syntax, const ojson& tools) : syntax_(syntax) {
  SchemaNode any;
  nodes_.push_back(any);  // node 0: any value (items 0, any keys)
  bool_trie_ = add_trie({"true", "false"});
  null_trie_ = add_trie({"null"});
  if (!tools.is_array()) fail("call_grammar", "the tools are not a JSON list");
  std::vector<std::string> name_words;
  for (size_t i = 0; i < tools.size(); ++i) {
    const ojson& f = function_of(tools[i]);
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string())
      fail("call_grammar", "tool ", i + 1, " has no name");
    const std::string name = f["name"].get<std::string>();
    if (std::find(names_.begin(), names_.end(), name) != names_.end()) continue;
    const std::string where = "tool '" + name + "'";
    int32_t args = compile(f.contains("parameters") ? f["parameters"] : ojson::object(), where, 0);
    // The arguments are one object of the declared properties (none declared: no arguments).
    SchemaNode a = nodes_[static_cast<size_t>(args)];
    a.types = SchemaNode::object;
    a.enum_trie = -1;
    if (a.keys < 0) a.keys = add_trie({});
    a.min_len = static_cast<int32_t>(a.required ? 1 + rest_cost(a, a.required) : 2);
    nodes_.push_back(a);
    args_.push_back(static_cast<int32_t>(nodes_.size() - 1));
    names_.push_back(name);
    name_words.push_back(syntax == CallSyntax::react ? name + "\n" : python_json(name));
  }
  name_trie_ = add_trie(name_words);
  // Per name-trie node: the bytes of the rest of the cheapest name below it plus its arguments.
  const LiteralTrie& nt = tries_[static_cast<size_t>(name_trie_)];
  name_cost_.assign(nt.nodes.size(), kFar);
  for (size_t i = nt.nodes.size(); i-- > 0;) {
    const auto& n = nt.nodes[i];
    if (n.word >= 0) name_cost_[i] = nodes_[static_cast<size_t>(args_[static_cast<size_t>(n.word)])].min_len;
    for (const auto& [b, c] : n.children) name_cost_[i] = std::min(name_cost_[i], name_cost_[static_cast<size_t>(c)] + 1);
  }

  auto lit = [&](const char* t) { program_.push_back({Step::lit, t, 1}); };
  auto ws = [&](const char* chars) { program_.push_back({Step::ws, chars, 1}); };
  auto name = [&] {
    name_step_ = program_.size();
    program_.push_back({Step::name, "", 1});
  };
  auto args = [&] {
    args_step_ = program_.size();
    program_.push_back({Step::args, "", 1});
  };
  switch (syntax) {
    case CallSyntax::hermes:  // after "<tool_call>"
      ws(" \n"), lit("{"), ws(" "), lit("\"name\""), ws(" "), lit(":"), ws(" "), name(), ws(" "), lit(","), ws(" "),
          lit("\"arguments\""), ws(" "), lit(":"), args(), ws(" "), lit("}"), ws(" \n"), lit("</tool_call>");
      break;
    case CallSyntax::llama3_json:  // after "{"
      ws(" "), lit("\"name\""), ws(" "), lit(":"), ws(" "), name(), ws(" "), lit(","), ws(" "), lit("\"parameters\""),
          ws(" "), lit(":"), args(), ws(" "), lit("}");
      break;
    case CallSyntax::react:  // after "Action:" at the start of a line
      ws(" "), name(), lit("Action Input:"), args();
      break;
  }
  program_.push_back({Step::end, "", 0});
  lits_from_.assign(program_.size() + 1, 0);
  for (size_t i = program_.size(); i-- > 0;)
    lits_from_[i] = lits_from_[i + 1] + (program_[i].kind == Step::lit ? static_cast<int64_t>(program_[i].text.size()) : 0);

  for (int b = 0x20; b < 0x7F; ++b) {
    if (b != '<' && b != '{') set_bit(text_loop_, b);
    if (b != '<' && b != '"' && b != '\\') set_bit(string_loop_, b);
  }
  set_bit(text_loop_, '\t');
  set_bit(text_loop_, '\r');
  // At the start of the turn: blanks before the first word, then the word's own characters.
  for (int b : {' ', '\t', '\r'}) set_bit(lead_blank_loop_, b);
  for (int b = 0; b < 0x80; ++b)
    if (is_letter(static_cast<uint8_t>(b)) || (b >= '0' && b <= '9') || b == '_' || b == '.') set_bit(lead_word_loop_, b);
  for (int b = 0x80; b < 0x100; ++b) {
    set_bit(text_loop_, b);
    set_bit(string_loop_, b);
  }
}

CallState CallGrammar::start() const {
  CallState s;
  s.line = 0;  // a turn starts a line (the prompt ends with its header's newline)
  return s;
}

const std::array<uint64_t, 4>* CallGrammar::self_loop_bytes(const CallState& s) const {
  if (s.utf8_need) return nullptr;
  if (!s.in_call) {
    if (s.tag != 0 || s.line >= 0) return nullptr;
    return s.lead == 2 ? &text_loop_ : s.lead == 1 ? &lead_word_loop_ : &lead_blank_loop_;
  }
  if (s.depth == 0) return nullptr;
  const JsonFrame& f = s.frames[static_cast<size_t>(s.depth - 1)];
  return f.kind == JsonFrame::string && f.phase == 0 && f.flag == 0 ? &string_loop_ : nullptr;
}

bool CallGrammar::advance(CallState& s, const std::string& bytes) const {
  for (unsigned char b : bytes)
    if (!advance(s, b)) return false;
  return true;
}

bool CallGrammar::advance(CallState& s, uint8_t b) const {
  if (s.utf8_need) {  // a continuation byte: nothing but the character changes
    if (b < s.utf8_lo || b > s.utf8_hi) return false;
    --s.utf8_need;
    s.utf8_lo = 0x80;
    s.utf8_hi = 0xBF;
    return true;
  }
  if (b >= 0x80) {
    // A lead byte (no overlong forms, surrogates or code points above U+10FFFF).
    if (b >= 0xC2 && b <= 0xDF) s.utf8_need = 1;
    else if (b >= 0xE0 && b <= 0xEF) s.utf8_need = 2;
    else if (b >= 0xF0 && b <= 0xF4) s.utf8_need = 3;
    else return false;
    s.utf8_lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
    s.utf8_hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
    if (!s.in_call) {
      s.tag = 0;
      s.line = -1;
      s.lead = 2;
      return true;
    }
    if (s.depth == 0) return false;
    JsonFrame& f = s.frames[static_cast<size_t>(s.depth - 1)];
    if (f.kind != JsonFrame::string || f.phase != 0) return false;
    f.flag = 0;
    return true;
  }
  if (b < 0x20 && b != '\n' && b != '\t' && b != '\r' && !s.in_call) return false;
  return s.in_call ? advance_call(s, b) : advance_text(s, b);
}

bool CallGrammar::advance_text(CallState& s, uint8_t b) const {
  auto enter = [&] {
    s.in_call = 1;
    s.step = 0;
    s.ws = 0;
    s.offset = 0;
    s.fn = -1;
    s.depth = 0;
    s.tag = 0;
    s.line = -1;
    return true;
  };
  if (s.lead == 0) {  // the start of the turn: no Python or JSON list, no "f(" (BFCL's readers)
    if (b == '[' || b == '`') return false;
    if (b != ' ' && b != '\n' && b != '\t' && b != '\r') s.lead = is_letter(b) || b == '_' ? 1 : 2;
  } else if (s.lead == 1) {
    if (b == '(') return false;
    if (!is_letter(b) && !(b >= '0' && b <= '9') && b != '_' && b != '.') s.lead = 2;
  }
  if (b == '{') return syntax_ == CallSyntax::llama3_json ? enter() : false;
  const int tag = b == static_cast<uint8_t>(kTag[s.tag]) ? s.tag + 1 : (b == '<' ? 1 : 0);
  const int line = s.line >= 0 && b == static_cast<uint8_t>(kAction[s.line]) ? s.line + 1 : (b == '\n' ? 0 : -1);
  if (tag == 11) return syntax_ == CallSyntax::hermes ? enter() : false;
  if (line == 7) return syntax_ == CallSyntax::react ? enter() : false;
  s.tag = static_cast<int8_t>(tag);
  s.line = static_cast<int8_t>(line);
  return true;
}

bool CallGrammar::advance_call(CallState& s, uint8_t b) const {
  if (s.depth > 0) return advance_json(s, b);
  for (;;) {
    const Step& st = program_[s.step];
    switch (st.kind) {
      case Step::ws:
        if (s.ws < st.max && st.text.find(static_cast<char>(b)) != std::string::npos) {
          ++s.ws;
          return true;
        }
        ++s.step;
        s.ws = 0;
        continue;
      case Step::lit:
        if (b != static_cast<uint8_t>(st.text[static_cast<size_t>(s.offset)])) return false;
        if (++s.offset == static_cast<int32_t>(st.text.size())) {
          ++s.step;
          s.offset = 0;
          settle(s);
        }
        return true;
      case Step::name: {
        const LiteralTrie& t = tries_[static_cast<size_t>(name_trie_)];
        const int32_t c = t.child(s.offset, b);
        if (c < 0) return false;
        s.offset = c;
        if (t.nodes[static_cast<size_t>(c)].word >= 0) {
          s.fn = t.nodes[static_cast<size_t>(c)].word;
          ++s.step;
          s.offset = 0;
        }
        return true;
      }
      case Step::args: {
        JsonFrame f;
        f.node = args_[static_cast<size_t>(s.fn)];
        s.frames[0] = f;
        s.depth = 1;
        ++s.step;
        return advance_json(s, b);
      }
      case Step::end: return false;
    }
  }
}

void CallGrammar::settle(CallState& s) const {
  if (s.in_call && s.depth == 0 && program_[s.step].kind == Step::end) {
    s.in_call = 0;
    s.tag = 0;
    s.line = -1;
    s.lead = 2;
  }
}

int64_t CallGrammar::program_cost(const CallState& s) const {
  const size_t step = s.step;
  if (s.depth > 0 || step > args_step_) {  // the arguments are open or done
    const Step& st = program_[step];
    return (st.kind == Step::lit ? static_cast<int64_t>(st.text.size()) - s.offset : 0) + lits_from_[step + 1];
  }
  if (step == name_step_) return name_cost_[static_cast<size_t>(s.offset)] + lits_from_[step + 1];
  const Step& st = program_[step];
  const int64_t here = st.kind == Step::lit ? static_cast<int64_t>(st.text.size()) - s.offset : 0;
  const int64_t args = step < name_step_ ? name_cost_[0] : nodes_[static_cast<size_t>(args_[static_cast<size_t>(s.fn)])].min_len;
  return here + lits_from_[step + 1] + args;
}

int64_t CallGrammar::completion_length(const CallState& s) const {
  int64_t n = s.utf8_need;
  if (!s.in_call) return n;
  for (int32_t i = 0; i < s.depth; ++i) n += frame_cost(s.frames[static_cast<size_t>(i)]);
  return n + program_cost(s);
}

std::string CallGrammar::completion(const CallState& s) const {
  std::string out;
  CallState cur, next;
  copy_state(cur, s);
  int64_t left = completion_length(cur);
  if (left >= kFar) fail("call_grammar", "this call cannot be completed (a tool with no way to write its arguments)");
  while (left > 0) {
    bool found = false;
    for (int b = 0; b < 256 && !found; ++b) {
      copy_state(next, cur);
      if (advance(next, static_cast<uint8_t>(b)) && completion_length(next) == left - 1) {
        copy_state(cur, next);
        out += static_cast<char>(b);
        --left;
        found = true;
      }
    }
    if (!found) fail("call_grammar", "no byte completes the call after '", out, "' (", left, " bytes short)");
  }
  return out;
}

}  // namespace et
