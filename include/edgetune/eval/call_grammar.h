// What a constrained assistant turn may say, byte by byte: free text, and tool calls in the
// template's own syntax (eval/tool_calls.h reads them back) whose function is one of the offered
// tools and whose arguments follow that tool's JSON schema.
//
//   hermes       <tool_call>{"name": "f", "arguments": {...}}</tool_call>   ChatML, Qwen3, Gemma 3, plain
//   llama3_json  {"name": "f", "parameters": {...}}                          Llama 3
//   react        Action: f\nAction Input: {...}                              ReAct conversations
//
// The turn is text until the syntax's opening (`<tool_call>`, `{`, or `Action:` at the start of a
// line); from there the bytes must make one call, then text again. Text may not contain the opening
// of another syntax a reader would take for a call (`<tool_call>`, a line that starts with
// `Action:`, `{`; at the start of the turn `[`, a backtick, or a word directly followed by `(`:
// BFCL's Python and JSON lists, eval/bfcl.h), and every byte sequence is valid UTF-8. Inside a call:
//   - whitespace: at most one space where JSON allows it (one space or newline around the JSON
//     inside <tool_call> tags), so the model cannot pad forever;
//   - the name: one of the tools' names, exactly;
//   - the arguments, by the tool's "parameters" schema: "type" (a name or a list of names, in JSON
//     schema's words or BFCL's: string/str, integer/int, number/float/double, boolean/bool, null,
//     array/list/tuple, object/dict; none: any JSON value), "enum" (the values exactly as JSON,
//     python_json's spelling), "properties" with "required" (keys among the properties, each at
//     most once, the required ones before the object closes; an object schema without properties
//     takes any keys), "items". Strings: escapes \" \\ \/ \b \f \n \r \t (no \u), no control
//     characters, and never the text `<tool_call>` or `</tool_call>`. Integers up to 15 digits;
//     numbers up to 15 digits before and after the point and a two-digit exponent.
//
// completion_length(state) is the number of bytes of the shortest way (python_json's compact
// spelling, the required keys only, the shortest values) to bring the turn back to text, and
// completion(state) those bytes: with a token budget a decoder can always finish the call it is in
// (every byte has a token of its own in the vocabularies we load).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edgetune/tokenize/chat_template.h"

namespace et {

enum class CallSyntax { hermes, llama3_json, react };
const char* call_syntax_name(CallSyntax s);
// The syntax our templates render calls in: react for ReAct conversations, llama3_json for
// Llama 3, hermes for the others.
CallSyntax call_syntax_for(ChatTemplate tmpl, bool react);

// A byte trie over a set of words (function names, object keys, enum values as JSON text).
struct LiteralTrie {
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
    int32_t word = -1;   // the word that ends here
    int32_t depth = 0;   // bytes from the root
    int32_t nearest = 0; // bytes to the nearest word end below
    uint64_t words = 0;  // bit w: word w ends in this subtree (the first 64 words)
  };
  std::vector<Node> nodes;  // nodes[0]: the root
  std::vector<std::string> word_list;

  explicit LiteralTrie(std::vector<std::string> words);
  int32_t child(int32_t node, uint8_t byte) const;
};

// A JSON schema compiled for matching. types: bits of SchemaNode::Type.
struct SchemaNode {
  enum Type : uint8_t {
    string = 1, integer = 2, number = 4, boolean = 8, null = 16, array = 32, object = 64, any = 127,
  };
  uint8_t types = any;
  int32_t enum_trie = -1;        // index into CallGrammar::tries: the allowed values
  int32_t keys = -1;             // trie of the properties as JSON strings ("\"city\""); -1: any keys
  std::vector<int32_t> props;    // the schema node of each property
  std::vector<int32_t> key_cost; // bytes of "key":<shortest value>
  uint64_t required = 0, all = 0;
  int32_t items = 0;             // array items (node 0 is "any")
  int32_t min_len = 1;           // bytes of the shortest value
};

// One JSON value being matched.
struct JsonFrame {
  enum Kind : uint8_t { value, string, number, literal, object, array };
  uint8_t kind = value;
  uint8_t phase = 0;
  uint8_t ws = 0;     // whitespace used at this point
  uint8_t flag = 0;   // number: integers only; string: the state of the <tool_call> tag matcher
  int32_t node = 0;   // schema node (literal: the trie)
  int32_t aux = 0;    // literal / key trie node, key index, digit count
  uint64_t seen = 0;  // object: keys given
};

struct CallState {
  static constexpr int kMaxDepth = 16;
  uint8_t in_call = 0;
  int8_t tag = 0;        // text: bytes of "<tool_call>" matched
  int8_t line = 0;       // text: bytes of "Action:" matched at the start of a line, -1 mid-line
  uint8_t lead = 0;      // text: 0 only whitespace yet, 1 in the leading word, 2 past it
  uint8_t utf8_need = 0; // continuation bytes still due
  uint8_t utf8_lo = 0x80, utf8_hi = 0xBF;  // range of the next one
  uint8_t step = 0;      // call: index into the syntax's program
  uint8_t ws = 0;        // call: whitespace used at this step
  int32_t offset = 0;    // call: bytes of the step's literal matched, or the name trie node
  int32_t fn = -1;       // call: the function, once named
  int32_t depth = 0;     // JSON frames in use
  std::array<JsonFrame, kMaxDepth> frames;
};
// Copies what is in use (the header and `depth` frames).
void copy_state(CallState& dst, const CallState& src);

class CallGrammar {
 public:
  // `tools`: the conversation's tools, OpenAI style ({"type": "function", "function": {...}}) or
  // bare function objects. Throws naming the tool for a schema it cannot match (more than 64
  // properties in one object, no name).
  CallGrammar(CallSyntax syntax, const nlohmann::ordered_json& tools);

  CallSyntax syntax() const { return syntax_; }
  const std::vector<std::string>& function_names() const { return names_; }
  CallState start() const;  // the turn's start: text at the start of a line

  // Consumes one byte; false (state unspecified) when the byte may not come next.
  bool advance(CallState& s, uint8_t byte) const;
  bool advance(CallState& s, const std::string& bytes) const;
  // In text, not inside a call or a character: the turn may end here.
  static bool at_text(const CallState& s) { return !s.in_call && s.utf8_need == 0; }
  // The bytes a state can leave unchanged by, when it has such a set (text outside any opening,
  // the blanks and the first word at the start of a turn, a string's body): bit b of word b/64.
  // nullptr otherwise. Bytes >= 0x80 are in it when they form whole characters (a separate check;
  // a token that ends inside a character leaves the state waiting for the rest of it).
  const std::array<uint64_t, 4>* self_loop_bytes(const CallState& s) const;

  int64_t completion_length(const CallState& s) const;
  std::string completion(const CallState& s) const;

  const std::vector<SchemaNode>& nodes() const { return nodes_; }

 private:
  struct Step {
    enum Kind : uint8_t { lit, ws, name, args, end } kind = lit;
    std::string text;  // lit: the bytes; ws: the allowed whitespace characters
    int max = 1;       // ws: at most this many
  };
  int32_t compile(const nlohmann::ordered_json& schema, const std::string& where, int depth);
  int32_t add_trie(std::vector<std::string> words);
  bool advance_text(CallState& s, uint8_t b) const;
  bool advance_call(CallState& s, uint8_t b) const;
  bool advance_json(CallState& s, uint8_t b) const;
  void settle(CallState& s) const;  // leaves the call when its program is done
  bool start_value(CallState& s, JsonFrame& f, uint8_t b, bool& redispatch) const;
  int64_t frame_cost(const JsonFrame& f) const;
  int64_t program_cost(const CallState& s) const;
  int64_t rest_cost(const SchemaNode& n, uint64_t missing) const;

  CallSyntax syntax_;
  std::vector<std::string> names_;
  std::vector<int32_t> args_;  // the arguments' schema node of each function
  std::vector<SchemaNode> nodes_;
  std::vector<LiteralTrie> tries_;
  int32_t bool_trie_ = -1, null_trie_ = -1, name_trie_ = -1;
  std::vector<Step> program_;
  size_t name_step_ = 0, args_step_ = 0;
  std::vector<int64_t> lits_from_;  // literal bytes of the program from each step on
  std::vector<int64_t> name_cost_;  // per name-trie node: the cheapest rest of a name and its arguments
  std::array<uint64_t, 4> text_loop_{}, string_loop_{}, lead_blank_loop_{}, lead_word_loop_{};
};

}  // namespace et
