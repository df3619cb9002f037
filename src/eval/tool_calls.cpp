// Reading tool calls back from generated text, and scoring them (tool_calls.h).
#include "edgetune/eval/tool_calls.h"

#include <algorithm>

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

// {"name": string, "arguments" | "parameters": object or a JSON string of one} -> a call.
bool call_from_json(const std::string& s, ToolCall* out) {
  ojson j = ojson::parse(s, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) return false;
  out->name = j["name"].get<std::string>();
  const char* key = j.contains("arguments") ? "arguments" : j.contains("parameters") ? "parameters" : nullptr;
  if (!key) {
    out->arguments = ojson::object();
    return true;
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
    pos += open.size();
    size_t end = text.find(close, pos);
    const std::string body = trim(text.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
    ToolCall tc;
    if (call_from_json(body, &tc)) out.calls.push_back(tc);
    else ++out.malformed;
    if (end == std::string::npos) break;
    pos = end + close.size();
  }
}

void parse_react(const std::string& text, ParsedCalls& out) {
  const std::string action = "Action:", input = "Action Input:";
  size_t pos = 0;
  while ((pos = text.find(action, pos)) != std::string::npos) {
    if (pos > 0 && text[pos - 1] != '\n') {
      pos += action.size();
      continue;
    }
    const size_t eol = text.find('\n', pos);
    ToolCall tc;
    tc.name = trim(text.substr(pos + action.size(), eol == std::string::npos ? std::string::npos : eol - pos - action.size()));
    const size_t in = eol == std::string::npos ? std::string::npos : text.find(input, eol);
    size_t brace = in == std::string::npos ? std::string::npos : text.find('{', in);
    size_t end = brace == std::string::npos ? std::string::npos : object_end(text, brace);
    ToolCall parsed;
    if (!tc.name.empty() && end != std::string::npos &&
        call_from_json("{\"name\": \"x\", \"arguments\": " + text.substr(brace, end - brace) + "}", &parsed)) {
      tc.arguments = parsed.arguments;
      out.calls.push_back(tc);
      pos = end;
    } else {
      ++out.malformed;
      pos = eol == std::string::npos ? text.size() : eol;
    }
  }
}

// Llama 3: bare {"name": ..., "parameters": ...} objects anywhere in the text.
void parse_bare_json(const std::string& text, ParsedCalls& out) {
  for (size_t pos = text.find('{'); pos != std::string::npos; pos = text.find('{', pos)) {
    const size_t end = object_end(text, pos);
    if (end == std::string::npos) break;
    ToolCall tc;
    if (call_from_json(text.substr(pos, end - pos), &tc)) {
      out.calls.push_back(tc);
      pos = end;
    } else {
      ++pos;
    }
  }
}

}  // namespace

ParsedCalls parse_tool_calls(const std::string& text) {
  ParsedCalls out;
  if (text.find("<tool_call>") != std::string::npos) {
    parse_hermes(text, out);
  } else if (text.find("Action:") != std::string::npos) {
    parse_react(text, out);
  } else {
    parse_bare_json(text, out);
  }
  return out;
}

std::vector<ToolCall> expected_calls(const ChatMessage& message) {
  if (!message.tool_calls.empty()) return message.tool_calls;
  return parse_tool_calls(message.content).calls;
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
