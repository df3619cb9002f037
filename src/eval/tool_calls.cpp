// Reading tool calls back from generated text, and scoring them (tool_calls.h).
#include "edgetune/eval/tool_calls.h"

#include <algorithm>
#include <utility>

namespace et {

namespace {

using ojson = nlohmann::ordered_json;

// End of the JSON object that starts at text[begin] == '{' (strings and escapes respected), or npos.
size_t object_end(const std::string& text, size_t begin) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = begin; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{') ++depth;
    else if (c == '}' && --depth == 0) return i + 1;
  }
  return std::string::npos;
}

// {"name": string, "arguments" | "parameters": object or a JSON string of one} -> a call. Inside
// <tool_call> tags the arguments may be left out (a call without arguments); a bare object must
// have them, or any JSON with a "name" ({"name": "Alice", "age": 30}) would count as a call.
bool call_from_json(const std::string& s, ToolCall* out, bool arguments_required) {
  ojson j = ojson::parse(s, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) return false;
  out->name = j["name"].get<std::string>();
  const char* key = j.contains("arguments") ? "arguments" : j.contains("parameters") ? "parameters" : nullptr;
  if (!key) {
    out->arguments = ojson::object();
    return !arguments_required;
  }
  ojson a = j[key];
  if (a.is_string()) a = ojson::parse(a.get<std::string>(), nullptr, false);
  if (!a.is_object()) return false;
  out->arguments = a;
  return true;
}

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

void parse_hermes(const std::string& text, ParsedCalls& out) {
  const std::string open = "<tool_call>", close = "</tool_call>";
  for (size_t pos = text.find(open); pos != std::string::npos; pos = text.find(open, pos)) {
    const size_t begin = pos;
    pos += open.size();
    size_t end = text.find(close, pos);
    const std::string body = trim(text.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
    ToolCall tc;
    if (call_from_json(body, &tc, false)) {
      out.calls.push_back(tc);
      out.spans.push_back({begin, end == std::string::npos ? text.size() : end + close.size()});
    } else {
      ++out.malformed;
    }
    if (end == std::string::npos) break;
    pos = end + close.size();
  }
}

bool line_starts_with(const std::string& text, size_t pos, const std::string& prefix) {
  return (pos == 0 || text[pos - 1] == '\n') && text.compare(pos, prefix.size(), prefix) == 0;
}

// The "{...}" that follows "Action Input:" on the line after `action_line_end` (only spaces between
// the label and the brace): [begin, end) or npos when the input is missing, not JSON-shaped or
// unterminated.
std::pair<size_t, size_t> react_input(const std::string& text, size_t action_line_end) {
  const std::string label = "Action Input:";
  const size_t none = std::string::npos;
  if (action_line_end == none || !line_starts_with(text, action_line_end + 1, label)) return {none, none};
  const size_t brace = text.find_first_not_of(" \t", action_line_end + 1 + label.size());
  if (brace == none || text[brace] != '{') return {none, none};
  return {brace, object_end(text, brace)};
}

// "Action: name" lines, each with its "Action Input: {...}" on the next line.
void parse_react(const std::string& text, ParsedCalls& out) {
  const std::string action = "Action:";
  for (size_t pos = text.find(action); pos != std::string::npos; pos = text.find(action, pos + 1)) {
    if (!line_starts_with(text, pos, action)) continue;
    const size_t eol = text.find('\n', pos);
    ToolCall tc;
    tc.name = trim(text.substr(pos + action.size(), eol == std::string::npos ? std::string::npos : eol - pos - action.size()));
    const auto [begin, end] = react_input(text, eol);
    ToolCall parsed;
    if (!tc.name.empty() && end != std::string::npos &&
        call_from_json("{\"name\": \"x\", \"arguments\": " + text.substr(begin, end - begin) + "}", &parsed, true)) {
      tc.arguments = parsed.arguments;
      out.calls.push_back(tc);
      out.spans.push_back({pos, end});
    } else {
      ++out.malformed;
    }
  }
}

bool has_react_action(const std::string& text) {
  for (size_t pos = text.find("Action:"); pos != std::string::npos; pos = text.find("Action:", pos + 1))
    if (line_starts_with(text, pos, "Action:")) return true;
  return false;
}

// Llama 3: bare {"name": ..., "parameters": ...} objects anywhere in the text.
void parse_bare_json(const std::string& text, ParsedCalls& out) {
  for (size_t pos = text.find('{'); pos != std::string::npos; pos = text.find('{', pos)) {
    const size_t end = object_end(text, pos);
    if (end == std::string::npos) break;
    ToolCall tc;
    const std::string object = text.substr(pos, end - pos);
    if (call_from_json(object, &tc, true)) {
      out.calls.push_back(tc);
      out.spans.push_back({pos, end});
      pos = end;
    } else if (ojson::accept(object)) {
      pos = end;  // JSON that is no call is skipped whole: a call nested inside it is not one
    } else {
      ++pos;      // only looks like an object ("{maybe}"): look inside
    }
  }
}

}  // namespace

ParsedCalls parse_tool_calls(const std::string& text) {
  ParsedCalls out;
  if (text.find("<tool_call>") != std::string::npos) {
    parse_hermes(text, out);
  } else if (has_react_action(text)) {
    parse_react(text, out);
  } else {
    parse_bare_json(text, out);
  }
  return out;
}

std::vector<ToolCall> expected_calls(const ChatMessage& message, bool react) {
  if (!message.tool_calls.empty() || !react) return message.tool_calls;
  ParsedCalls p;
  parse_react(message.content, p);
  return p.calls;
}

size_t react_step_end(const std::string& text) {
  const std::string action = "Action:";
  for (size_t pos = text.find(action); pos != std::string::npos; pos = text.find(action, pos + 1)) {
    if (!line_starts_with(text, pos, action)) continue;
    return react_input(text, text.find('\n', pos)).second;
  }
  return std::string::npos;
}

CallScore score_calls(const std::vector<ToolCall>& expected, const ParsedCalls& got) {
  CallScore s;
  s.decision = expected.empty() != got.any();
  s.names = got.malformed == 0 && got.calls.size() == expected.size();
  s.exact = s.names;
  for (size_t i = 0; i < expected.size(); ++i) {
    const ToolCall* g = i < got.calls.size() ? &got.calls[i] : nullptr;
    const bool same_name = g && g->name == expected[i].name;
    s.names = s.names && same_name;
    s.exact = s.exact && same_name && nlohmann::json(g->arguments) == nlohmann::json(expected[i].arguments);
    for (auto it = expected[i].arguments.begin(); it != expected[i].arguments.end(); ++it) {
      ++s.arguments_expected;
      if (same_name && g->arguments.contains(it.key()) &&
          nlohmann::json(g->arguments[it.key()]) == nlohmann::json(it.value()))
        ++s.arguments_matched;
    }
  }
  return s;
}

}  // namespace et
