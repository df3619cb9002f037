// Agent trajectories from JSONL, one conversation per line, in the two forms agent data comes in:
//  1. chat: {"tools": [...], "messages": [{"role": "system"|"user"|"assistant"|"tool",
//     "content": ..., "tool_calls": [{"function": {"name": ..., "arguments": {...} or "json"}}]}]}
//     (OpenAI / Mobile Actions style; content may also be a list of {"type":"text","text":...}).
//  2. ReAct: {"question": ..., "trajectory": "Thought: ...\nAction: name\nAction Input: {...}\n
//     Observation: ...\n...Final Answer: ..."} with optional "system" and "tools" (the user text may
//     also be under "input" or "query", the transcript under "react" or "text").
// A malformed line is reported with file:line and skipped, or is fatal (on_error = "fail").
#pragma once
#include <string>
#include <vector>

#include "edgetune/tokenize/chat_template.h"

namespace et {

// Parses one JSONL line. format: "auto" (decided per line), "chat" or "react".
// Throws et::Error("[trajectory] <source>: <what>") when malformed.
Conversation parse_trajectory(const std::string& line, const std::string& format, const std::string& source);

// Parses the ReAct transcript into assistant (Thought/Action/Action Input or Final Answer) and
// tool (Observation) messages appended to `conv`.
void parse_react_transcript(const std::string& text, const std::string& source, Conversation& conv);

struct TrajectoryLoadReport {
  int lines = 0;    // non-empty lines
  int loaded = 0;
  int skipped = 0;  // malformed lines skipped (each logged as a warning with file:line)
};

// Reads a JSONL file. on_error: "skip" logs and skips a malformed line, "fail" throws.
std::vector<Conversation> load_trajectories(const std::string& path, const std::string& format,
                                            const std::string& on_error, TrajectoryLoadReport* report = nullptr);

}  // namespace et
