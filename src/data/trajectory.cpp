// JSONL trajectories (chat and ReAct forms) into Conversations, with file:line diagnostics.
#include "edgetune/data/trajectory.h"

#include <fstream>

#include "edgetune/core/error.h"
#include "edgetune/core/log.h"

namespace et {

using ojson = nlohmann::ordered_json;

namespace {

Role parse_role(const std::string& r, const std::string& src) {
  if (r == "system" || r == "developer") return Role::system;
  if (r == "user" || r == "human") return Role::user;
  if (r == "assistant" || r == "model" || r == "gpt") return Role::assistant;
  if (r == "tool" || r == "function" || r == "ipython" || r == "observation") return Role::tool;
  fail("trajectory", src, ": unknown role '", r, "' (system, user, assistant, tool)");
}

std::string content_text(const ojson& c, const std::string& src) {
  if (c.is_null()) return "";
  if (c.is_string()) return c.get<std::string>();
  if (c.is_array()) {  // [{"type": "text", "text": ...}, ...]
    std::string s;
    for (const auto& part : c) {
      if (part.is_string()) {
        s += part.get<std::string>();
      } else if (part.is_object() && part.contains("text") && part["text"].is_string()) {
        s += part["text"].get<std::string>();
      } else {
        fail("trajectory", src, ": content part is neither text nor {\"type\": \"text\", \"text\": ...}");
      }
    }
    return s;
  }
  if (c.is_object()) return c.dump();  // structured tool results are kept as their JSON
  fail("trajectory", src, ": content must be a string, a list of text parts or null");
}

ToolCall parse_tool_call(const ojson& tc, const std::string& src) {
  const ojson& f = tc.contains("function") ? tc["function"] : tc;
  if (!f.is_object() || !f.contains("name") || !f["name"].is_string())
    fail("trajectory", src, ": a tool call needs a function name");
  ToolCall out;
  out.name = f["name"].get<std::string>();
  if (out.name.empty()) fail("trajectory", src, ": a tool call has an empty function name");
  if (f.contains("arguments")) {
    const ojson& a = f["arguments"];
    if (a.is_string()) {  // OpenAI sends the arguments as a JSON string
      try {
        out.arguments = ojson::parse(a.get<std::string>());
      } catch (const std::exception&) {
        fail("trajectory", src, ": arguments of tool call '", out.name, "' are not valid JSON");
      }
    } else {
      out.arguments = a;
    }
    if (!out.arguments.is_object())
      fail("trajectory", src, ": arguments of tool call '", out.name, "' must be a JSON object");
  }
  return out;
}

Conversation parse_chat(const ojson& j, const std::string& src) {
  Conversation c;
  c.source = src;
  if (j.contains("tools")) {
    if (!j["tools"].is_array()) fail("trajectory", src, ": \"tools\" must be a list of JSON schemas");
    c.tools = j["tools"];
  }
  const ojson& msgs = j["messages"];
  if (!msgs.is_array() || msgs.empty()) fail("trajectory", src, ": \"messages\" must be a non-empty list");
  for (size_t i = 0; i < msgs.size(); ++i) {
    const ojson& m = msgs[i];
    const std::string msrc = src + " message " + std::to_string(i);
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      fail("trajectory", msrc, ": each message needs a \"role\"");
    ChatMessage msg;
    msg.role = parse_role(m["role"].get<std::string>(), msrc);
    if (m.contains("content")) msg.content = content_text(m["content"], msrc);
    if (m.contains("tool_calls") && !m["tool_calls"].is_null()) {
      if (msg.role != Role::assistant) fail("trajectory", msrc, ": only assistant messages may have tool_calls");
      if (!m["tool_calls"].is_array()) fail("trajectory", msrc, ": \"tool_calls\" must be a list");
      for (const auto& tc : m["tool_calls"]) msg.tool_calls.push_back(parse_tool_call(tc, msrc));
    }
    if (m.contains("name") && m["name"].is_string()) msg.name = m["name"].get<std::string>();
    if (msg.role == Role::assistant && msg.content.empty() && msg.tool_calls.empty())
      fail("trajectory", msrc, ": an assistant message has neither content nor tool calls");
    c.messages.push_back(std::move(msg));
  }
  bool any_assistant = false;
  for (const auto& m : c.messages) any_assistant = any_assistant || m.role == Role::assistant;
  if (!any_assistant) fail("trajectory", src, ": no assistant message (nothing to learn from)");
  return c;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

std::string rstrip_newlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

const ojson* first_string_field(const ojson& j, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (j.contains(k) && j[k].is_string()) return &j[k];
  return nullptr;
}

}  // namespace

void parse_react_transcript(const std::string& text, const std::string& src, Conversation& c) {
  // Walk the lines; an "Observation:" line closes the assistant step before it and opens a tool
  // message that runs until the next Thought/Action/Final Answer line.
  std::string assistant, observation;
  bool in_observation = false, saw_action = false, saw_input = false, saw_final = false;
  auto close_assistant = [&]() {
    std::string a = rstrip_newlines(assistant);
    if (!a.empty()) c.messages.push_back({Role::assistant, a, {}, ""});
    assistant.clear();
  };
  auto close_observation = [&]() {
    c.messages.push_back({Role::tool, rstrip_newlines(observation), {}, ""});
    observation.clear();
  };
  size_t pos = 0;
  int line_no = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    const bool step_start = starts_with(line, "Thought:") || starts_with(line, "Action:") ||
                            starts_with(line, "Final Answer:");
    if (starts_with(line, "Observation:")) {
      if (!saw_action) fail("trajectory", src, ": transcript line ", line_no, ": Observation without an Action before it");
      if (!saw_input) fail("trajectory", src, ": transcript line ", line_no, ": Action without an Action Input");
      close_assistant();
      if (in_observation) close_observation();
      in_observation = true;
      saw_action = saw_input = false;
      std::string rest = line.substr(12);
      if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
      observation = rest;
      continue;
    }
    if (in_observation && !step_start) {
      observation += "\n" + line;
      continue;
    }
    if (in_observation) {
      close_observation();
      in_observation = false;
    }
    if (starts_with(line, "Action:")) {
      if (saw_action) fail("trajectory", src, ": transcript line ", line_no, ": two Actions without an Observation between them");
      saw_action = true;
      std::string name = line.substr(7);
      if (name.find_first_not_of(' ') == std::string::npos)
        fail("trajectory", src, ": transcript line ", line_no, ": Action has no tool name");
    }
    if (starts_with(line, "Action Input:")) {
      if (!saw_action) fail("trajectory", src, ": transcript line ", line_no, ": Action Input without an Action");
      saw_input = true;
    }
    if (starts_with(line, "Final Answer:")) saw_final = true;
    assistant += (assistant.empty() ? "" : "\n") + line;
  }
  if (in_observation) close_observation();
  if (saw_action && !saw_final) {
    // The transcript ends on an action (a final call without its observation): keep it.
    if (!saw_input) fail("trajectory", src, ": the last Action has no Action Input");
  }
  close_assistant();
}

Conversation parse_trajectory(const std::string& line, const std::string& format, const std::string& src) {
  ojson j;
  try {
    j = ojson::parse(line);
  } catch (const std::exception& e) {
    fail("trajectory", src, ": not valid JSON (", e.what(), ")");
  }
  if (!j.is_object()) fail("trajectory", src, ": each line must be a JSON object");
  const bool has_messages = j.contains("messages");
  const ojson* transcript = first_string_field(j, {"trajectory", "react", "text"});
  std::string form = format;
  if (form == "auto") {
    if (has_messages) form = "chat";
    else if (transcript) form = "react";
    else fail("trajectory", src, ": neither \"messages\" (chat form) nor \"trajectory\" (ReAct form)");
  }
  if (form == "chat") {
    if (!has_messages) fail("trajectory", src, ": chat form needs \"messages\"");
    return parse_chat(j, src);
  }
  if (form != "react") fail("trajectory", src, ": unknown format '", format, "' (auto, chat, react)");
  if (!transcript) fail("trajectory", src, ": ReAct form needs a \"trajectory\" string");
  Conversation c;
  c.source = src;
  c.react = true;
  if (j.contains("tools")) {
    if (!j["tools"].is_array()) fail("trajectory", src, ": \"tools\" must be a list of JSON schemas");
    c.tools = j["tools"];
  }
  if (const ojson* s = first_string_field(j, {"system"})) c.messages.push_back({Role::system, s->get<std::string>(), {}, ""});
  const ojson* q = first_string_field(j, {"question", "input", "query", "user"});
  if (!q) fail("trajectory", src, ": ReAct form needs the user's \"question\"");
  c.messages.push_back({Role::user, q->get<std::string>(), {}, ""});
  parse_react_transcript(transcript->get<std::string>(), src, c);
  bool any = false;
  for (const auto& m : c.messages) any = any || m.role == Role::assistant;
  if (!any) fail("trajectory", src, ": the transcript has no Thought/Action/Final Answer");
  return c;
}

std::vector<Conversation> load_trajectories(const std::string& path, const std::string& format,
                                            const std::string& on_error, TrajectoryLoadReport* report) {
  std::ifstream in(path);
  if (!in) fail("trajectory", path, ": cannot open");
  TrajectoryLoadReport r;
  std::vector<Conversation> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ++r.lines;
    const std::string src = path + ":" + std::to_string(n);
    try {
      out.push_back(parse_trajectory(line, format, src));
      ++r.loaded;
    } catch (const Error& e) {
      if (on_error == "fail") throw;
      ++r.skipped;
      log_warn("skipping malformed line: ", e.what());
    }
  }
  if (r.skipped > 0) log_warn(path, ": skipped ", r.skipped, " of ", r.lines, " lines (set data.on_error: fail to stop instead)");
  if (report) *report = r;
  return out;
}

}  // namespace et
