// Tool calls read back from model output, and scored against the calls a conversation expects.
//
// parse_tool_calls reads every form our chat templates render (tokenize/chat_template.h):
//   <tool_call>{"name": ..., "arguments": {...}}</tool_call>  Hermes: ChatML, Qwen3, Gemma 3, plain
//   {"name": ..., "parameters": {...}}                         Llama 3: a bare JSON object
//   Action: name / Action Input: {...}                         ReAct transcripts (lines that start so)
// A block that is clearly meant as a call but does not parse (a <tool_call> without valid JSON,
// an Action line without a JSON Action Input on the next line) counts as malformed: it is a call,
// just not a usable one. A bare JSON object is a call only with "name" and "arguments"/"parameters".
//
// score_calls compares the calls of one assistant turn with the expected ones, in order:
//   decision   both call a tool, or both do not
//   names      same number of calls with the same names
//   exact      names and arguments equal (JSON equality: 18 == 18.0, key order ignored)
//   arguments  expected (key, value) pairs reproduced by the call at the same position, when that
//              call names the same tool
#pragma once
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "edgetune/tokenize/chat_template.h"

namespace et {

struct ParsedCalls {
  std::vector<ToolCall> calls;
  int malformed = 0;
  std::vector<std::pair<size_t, size_t>> spans;  // where each call is in the text: [begin, end)
  bool any() const { return !calls.empty() || malformed > 0; }
};

ParsedCalls parse_tool_calls(const std::string& text);

// The calls an assistant message makes: its tool_calls, or in a ReAct conversation the Action /
// Action Input lines of its text.
std::vector<ToolCall> expected_calls(const ChatMessage& message, bool react);

// In ReAct output: the end of the first Action's "Action Input: {...}" object (where the step is
// complete and the Observation would follow), or npos while it is not complete.
size_t react_step_end(const std::string& text);

struct CallScore {
  bool decision = false, names = false, exact = false;
  int arguments_expected = 0, arguments_matched = 0;
};

CallScore score_calls(const std::vector<ToolCall>& expected, const ParsedCalls& got);

}  // namespace et
