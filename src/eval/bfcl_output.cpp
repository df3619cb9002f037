// Model outputs read as calls for BFCL scoring (bfcl.h): Python call lists, JSON call lists, or
// our templates' tool-call markup.
#include <cctype>

#include "edgetune/core/error.h"
#include "edgetune/eval/bfcl.h"
#include "edgetune/eval/python_calls.h"
#include "edgetune/eval/tool_calls.h"

namespace et {

namespace {

using ojson = nlohmann::ordered_json;

// {"name": ..., "arguments" | "parameters": {...} or a JSON string of one}, the same inside
// {"function": {...}} (OpenAI), or BFCL's decoded {name: {...} or "json"}. False with `why`.
bool call_from_json(const ojson& j, ToolCall& out, std::string& why) {
  if (!j.is_object()) {
    why = "not a call object";
    return false;
  }
  const ojson& f = j.contains("function") && j["function"].is_object() ? j["function"] : j;
  ojson args = ojson::object();
  if (f.contains("name")) {
    if (!f["name"].is_string() || f["name"].get<std::string>().empty()) {
      why = "\"name\" must be a non-empty string";
      return false;
    }
    out.name = f["name"].get<std::string>();
    if (f.contains("arguments"))
      args = f["arguments"];
    else if (f.contains("parameters"))
      args = f["parameters"];
  } else if (f.size() == 1 && (f.begin().value().is_object() || f.begin().value().is_string())) {
    out.name = f.begin().key();
    args = f.begin().value();
  } else {
    why = "neither {\"name\": ..., \"arguments\": {...}} nor {name: {arguments}}";
    return false;
  }
  if (args.is_string()) {
    const std::string s = args.get<std::string>();
    args = ojson::parse(s, nullptr, /*allow_exceptions=*/false);
    if (args.is_discarded()) {
      why = "the arguments of '" + out.name + "' are a string that is not JSON";
      return false;
    }
  }
  if (!args.is_object()) {
    why = "the arguments of '" + out.name + "' are not an object";
    return false;
  }
  out.arguments = args;
  return true;
}

// A lone JSON object in text is a call only when it says so; other JSON is no call.
bool looks_like_call(const ojson& j) {
  if (!j.is_object()) return false;
  if (j.contains("name") && j["name"].is_string()) return true;
  if (j.contains("function") && j["function"].is_object()) return true;
  return j.size() == 1 && j.begin().value().is_object();
}

BfclOutput json_calls(const ojson& j) {
  BfclOutput out;
  const ojson items = j.is_array() ? j : ojson::array({j});
  for (size_t i = 0; i < items.size(); ++i) {
    ToolCall tc;
    std::string why;
    if (!call_from_json(items[i], tc, why)) {
      out.malformed = true;
      out.error = j.is_array() ? "item " + std::to_string(i + 1) + " of the JSON list: " + why : why;
      out.calls.clear();
      return out;
    }
    out.calls.push_back(std::move(tc));
  }
  return out;
}

// "name(" or "a.b(" at the start: Python calls without brackets.
bool starts_with_call(const std::string& t) {
  size_t i = 0;
  auto ident = [&] {
    const size_t b = i;
    while (i < t.size() && (std::isalnum(static_cast<unsigned char>(t[i])) || t[i] == '_')) ++i;
    return i > b && !std::isdigit(static_cast<unsigned char>(t[b]));
  };
  if (!ident()) return false;
  while (i < t.size() && t[i] == '.') {
    ++i;
    if (!ident()) return false;
  }
  return i < t.size() && t[i] == '(';
}

}  // namespace

BfclOutput parse_bfcl_output(const std::string& text) {
  const std::string t = strip_code_fence(text);
  BfclOutput out;
  if (t.empty()) return out;
  const ojson j = ojson::parse(t, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) return j.is_array() || looks_like_call(j) ? json_calls(j) : out;
  if (t[0] == '[' || starts_with_call(t)) {
    try {
      out.calls = parse_python_calls(t);
    } catch (const Error& e) {
      out.malformed = true;
      out.error = e.what();
    }
    return out;
  }
  const ParsedCalls p = parse_tool_calls(t);
  out.calls = p.calls;
  if (p.malformed > 0) {
    out.malformed = true;
    out.error = std::to_string(p.malformed) + (p.malformed == 1 ? " tool call does" : " tool calls do") +
                " not parse (a <tool_call> or Action Input without a JSON object)";
  }
  return out;
}

BfclOutput parse_bfcl_result(const nlohmann::ordered_json& result) {
  if (result.is_string()) return parse_bfcl_output(result.get<std::string>());
  if (result.is_array() || result.is_object()) return json_calls(result);
  return BfclOutput{};  // null, a number: no call
}

}  // namespace et
