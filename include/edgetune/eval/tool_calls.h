// Tool calls read back from model output, and scored against the calls a conversation expects.
//
// parse_tool_calls reads every form our chat templates render (tokenize/chat_template.h):
//   <tool_call>{"name": ..., "arguments": {...}}</tool_call>  Hermes: ChatML, Qwen3, Gemma 3, plain
//   {"name": ..., "parameters": {...}}                         Llama 3: a bare JSON object
//   Action: name / Action Input: {...}                         ReAct transcripts
// A block that is clearly meant as a call but does not parse (a <tool_call> without valid JSON,
// an Action without a JSON Action Input) counts as malformed: it is a call, just not a usable one.
//
// score_calls compares the calls of one assistant turn with the expected ones, in order:
//   decision   both call a tool, or both do not
//   names      same number of calls with the same names
//   exact      names and arguments equal (JSON equality: 18 == 18.0, key order ignored)
//   arguments  expected (key, value) pairs reproduced by the call at the same position
#pragma once
#include <string>
#include <vector>

#include "edgetune/tokenize/chat_template.h"

namespace et {

struct ParsedCalls {
  std::vector<ToolCall> calls;
  int malformed = 0;
  bool any() const { return !calls.empty() || malformed > 0; }
};

ParsedCalls parse_tool_calls(const std::string& text);

// The calls an assistant message makes: its tool_calls, or those written in its text (ReAct).
std::vector<ToolCall> expected_calls(const ChatMessage& message);

struct CallScore {
  bool decision = false, names = false, exact = false;
  int arguments_expected = 0, arguments_matched = 0;
};

CallScore score_calls(const std::vector<ToolCall>& expected, const ParsedCalls& got);

}  // namespace et
