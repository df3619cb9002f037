// Chat templates, written out by hand from each family's Hugging Face template:
//   llama3  Llama 3.1/3.2: system header with the knowledge/today date lines, tools as JSON in the
//           first user message, a tool call as {"name": ..., "parameters": ...}, results as ipython.
//   chatml  Qwen2.5: default Qwen system prompt, tools in <tools></tools>, calls as Hermes
//           <tool_call>{...}</tool_call>, results as <tool_response> inside a user turn.
//   qwen3   the same without the default system prompt; the last assistant turn (after the last user
//           message) and the generation prompt open with an empty <think></think> block, as Qwen3's
//           template renders them with reasoning off.
//   gemma3  Gemma 3: system text prefixed to the first user turn, assistant role "model", strictly
//           alternating turns; Gemma has no tool syntax, so tools, calls and results use the Hermes
//           tags of chatml as plain text.
//   plain   base models: "System:", "Tools:" (one "- name(args): description" line per tool),
//           "User:", "Assistant:", "Tool:" blocks, EOS ends an assistant turn; ReAct conversations render back as Question/Thought/Action/
//           Action Input/Observation transcripts.
#include "edgetune/tokenize/chat_template.h"

#include <cstdio>

#include "edgetune/core/error.h"
#include "edgetune/tokenize/tokenizer.h"

namespace et {

using ojson = nlohmann::ordered_json;

const char* role_name(Role r) {
  switch (r) {
    case Role::system: return "system";
    case Role::user: return "user";
    case Role::assistant: return "assistant";
    case Role::tool: return "tool";
  }
  return "?";
}

const char* chat_template_name(ChatTemplate t) {
  switch (t) {
    case ChatTemplate::plain: return "plain";
    case ChatTemplate::llama3: return "llama3";
    case ChatTemplate::chatml: return "chatml";
    case ChatTemplate::qwen3: return "qwen3";
    case ChatTemplate::gemma3: return "gemma3";
  }
  return "?";
}

ChatTemplate parse_chat_template(const std::string& name) {
  for (auto t : {ChatTemplate::plain, ChatTemplate::llama3, ChatTemplate::chatml, ChatTemplate::qwen3,
                 ChatTemplate::gemma3})
    if (name == chat_template_name(t)) return t;
  fail("chat_template", "unknown template '", name, "' (plain, llama3, chatml, qwen3, gemma3)");
}

ChatTemplate choose_chat_template(const std::string& family, const Tokenizer& tok) {
  if (tok.piece_to_id("<|start_header_id|>")) return ChatTemplate::llama3;
  if (tok.piece_to_id("<|im_start|>")) return family == "qwen3" ? ChatTemplate::qwen3 : ChatTemplate::chatml;
  if (tok.piece_to_id("<start_of_turn>")) return ChatTemplate::gemma3;
  return ChatTemplate::plain;
}

std::string RenderedChat::text() const {
  std::string s;
  for (const auto& seg : segments) s += seg.text;
  return s;
}

namespace {

void dump_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void dump(std::string& out, const ojson& j, int indent, int depth) {
  auto newline = [&](int d) {
    out += '\n';
    out.append(static_cast<size_t>(indent * d), ' ');
  };
  if (j.is_object()) {
    if (j.empty()) {
      out += "{}";
      return;
    }
    out += '{';
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!first) out += indent >= 0 ? "," : ", ";
      first = false;
      if (indent >= 0) newline(depth + 1);
      dump_string(out, it.key());
      out += ": ";
      dump(out, it.value(), indent, depth + 1);
    }
    if (indent >= 0) newline(depth);
    out += '}';
  } else if (j.is_array()) {
    if (j.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    bool first = true;
    for (const auto& e : j) {
      if (!first) out += indent >= 0 ? "," : ", ";
      first = false;
      if (indent >= 0) newline(depth + 1);
      dump(out, e, indent, depth + 1);
    }
    if (indent >= 0) newline(depth);
    out += ']';
  } else if (j.is_string()) {
    dump_string(out, j.get<std::string>());
  } else if (j.is_boolean()) {
    out += j.get<bool>() ? "true" : "false";
  } else if (j.is_null()) {
    out += "null";
  } else {
    out += j.dump();  // numbers: shortest round-trip form, as Python's repr
  }
}

std::string trim(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

// Accumulates segments; adjacent segments with the same trainability merge.
struct Builder {
  RenderedChat out;
  void add(const std::string& text, bool trainable = false) {
    if (text.empty()) return;
    auto& segs = out.segments;
    if (!segs.empty() && segs.back().trainable == trainable && !segs.back().eos_after)
      segs.back().text += text;
    else
      segs.push_back({text, trainable, false});
  }
  void eos(bool trainable) {
    if (out.segments.empty() || out.segments.back().trainable != trainable) out.segments.push_back({"", trainable, false});
    out.segments.back().eos_after = true;
  }
};

// Index of the last assistant message (for last_turn_only).
int last_assistant(const Conversation& c) {
  for (int i = static_cast<int>(c.messages.size()) - 1; i >= 0; --i)
    if (c.messages[i].role == Role::assistant) return i;
  return -1;
}

std::string hermes_call(const ToolCall& tc) {
  return "<tool_call>\n{\"name\": " + python_json(tc.name) + ", \"arguments\": " + python_json(tc.arguments) +
         "}\n</tool_call>";
}

const std::string kQwenDefaultSystem = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

RenderedChat render_chatml(const Conversation& c, bool qwen3, bool last_only, bool gen) {
  Builder b;
  size_t start = 0;
  std::string system;
  bool has_system = !c.messages.empty() && c.messages[0].role == Role::system;
  if (has_system) {
    system = c.messages[0].content;
    start = 1;
  }
  if (!c.tools.empty()) {
    std::string s = "<|im_start|>system\n";
    if (qwen3) {
      if (has_system) s += system + "\n\n";
    } else {
      s += (has_system ? system : kQwenDefaultSystem) + "\n\n";
    }
    s += "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
         "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
    for (const auto& t : c.tools) s += "\n" + python_json(t);
    s += "\n</tools>\n\nFor each function call, return a json object with function name and arguments "
         "within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, "
         "\"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n";
    b.add(s);
  } else if (has_system) {
    b.add("<|im_start|>system\n" + system + "<|im_end|>\n");
  } else if (!qwen3) {
    b.add("<|im_start|>system\n" + kQwenDefaultSystem + "<|im_end|>\n");
  }
  const int last = last_assistant(c);
  int last_query = -1;  // Qwen3: the final assistant turn after the last user message opens with
  for (size_t i = 0; i < c.messages.size(); ++i)  // an empty think block (reasoning off)
    if (c.messages[i].role == Role::user) last_query = static_cast<int>(i);
  for (size_t i = start; i < c.messages.size(); ++i) {
    const auto& m = c.messages[i];
    if (m.role == Role::user || m.role == Role::system) {
      b.add(std::string("<|im_start|>") + role_name(m.role) + "\n" + m.content + "<|im_end|>\n");
    } else if (m.role == Role::assistant) {
      const bool train = !last_only || static_cast<int>(i) == last;
      const bool think = qwen3 && i + 1 == c.messages.size() && static_cast<int>(i) > last_query;
      b.add(think ? "<|im_start|>assistant\n<think>\n\n</think>\n\n" : "<|im_start|>assistant\n");
      std::string body = m.content;
      for (const auto& tc : m.tool_calls) body += (body.empty() ? "" : "\n") + hermes_call(tc);
      b.add(body + "<|im_end|>", train);
      b.add("\n");
    } else {  // tool results are grouped into one user turn
      if (i == start || c.messages[i - 1].role != Role::tool) b.add("<|im_start|>user");
      b.add("\n<tool_response>\n" + m.content + "\n</tool_response>");
      if (i + 1 == c.messages.size() || c.messages[i + 1].role != Role::tool) b.add("<|im_end|>\n");
    }
  }
  if (gen) b.add(qwen3 ? "<|im_start|>assistant\n<think>\n\n</think>\n\n" : "<|im_start|>assistant\n");
  return b.out;
}

RenderedChat render_llama3(const Conversation& c, bool last_only, bool gen) {
  Builder b;
  b.out.bos = true;
  size_t i = 0;
  std::string system;
  if (!c.messages.empty() && c.messages[0].role == Role::system) {
    system = trim(c.messages[0].content);
    i = 1;
  }
  std::string s = "<|start_header_id|>system<|end_header_id|>\n\n";
  if (!c.tools.empty()) s += "Environment: ipython\n";
  s += "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" + system + "<|eot_id|>";
  b.add(s);
  if (!c.tools.empty()) {
    if (i >= c.messages.size() || c.messages[i].role != Role::user)
      fail("chat_template", c.source, ": llama3 puts the tools into the first user message, but there is none");
    std::string u = "<|start_header_id|>user<|end_header_id|>\n\n"
                    "Given the following functions, please respond with a JSON for a function call with its "
                    "proper arguments that best answers the given prompt.\n\n"
                    "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument "
                    "name and its value}.Do not use variables.\n\n";
    for (const auto& t : c.tools) u += python_json(t, 4) + "\n\n";
    u += trim(c.messages[i].content) + "<|eot_id|>";
    b.add(u);
    ++i;
  }
  const int last = last_assistant(c);
  for (; i < c.messages.size(); ++i) {
    const auto& m = c.messages[i];
    if (m.role == Role::assistant) {
      const bool train = !last_only || static_cast<int>(i) == last;
      b.add("<|start_header_id|>assistant<|end_header_id|>\n\n");
      std::string body;
      if (m.tool_calls.empty()) {
        body = trim(m.content);
      } else {
        // One call per turn in Meta's format; several calls are written one JSON object per line.
        for (const auto& tc : m.tool_calls)
          body += (body.empty() ? "" : "\n") + std::string("{\"name\": ") + python_json(tc.name) +
                  ", \"parameters\": " + python_json(tc.arguments) + "}";
      }
      b.add(body + "<|eot_id|>", train);
    } else if (m.role == Role::tool) {
      b.add("<|start_header_id|>ipython<|end_header_id|>\n\n" + m.content + "<|eot_id|>");
    } else {
      b.add(std::string("<|start_header_id|>") + role_name(m.role) + "<|end_header_id|>\n\n" + trim(m.content) +
            "<|eot_id|>");
    }
  }
  if (gen) b.add("<|start_header_id|>assistant<|end_header_id|>\n\n");
  return b.out;
}

RenderedChat render_gemma3(const Conversation& c, bool last_only, bool gen) {
  Builder b;
  b.out.bos = true;
  size_t i = 0;
  std::string prefix;
  if (!c.messages.empty() && c.messages[0].role == Role::system) {
    prefix = c.messages[0].content + "\n\n";
    i = 1;
  }
  if (!c.tools.empty()) {
    prefix += "You may call functions. Their signatures, within <tools></tools> tags:\n<tools>";
    for (const auto& t : c.tools) prefix += "\n" + python_json(t);
    prefix += "\n</tools>\n\nTo call a function, reply with <tool_call>\n{\"name\": <function-name>, "
              "\"arguments\": <args-json-object>}\n</tool_call>\n\n";
  }
  const int last = last_assistant(c);
  bool first_turn = true;
  // Turns alternate user/model: user and tool messages in a row form one user turn.
  while (i < c.messages.size()) {
    const auto& m = c.messages[i];
    if (m.role == Role::assistant) {
      if (first_turn) fail("chat_template", c.source, ": gemma3 conversations must start with a user turn");
      b.add("<start_of_turn>model\n");
      bool train = false;
      std::string body;
      while (i < c.messages.size() && c.messages[i].role == Role::assistant) {
        const auto& a = c.messages[i];
        train = train || !last_only || static_cast<int>(i) == last;
        std::string part = trim(a.content);
        for (const auto& tc : a.tool_calls) part += (part.empty() ? "" : "\n") + hermes_call(tc);
        body += (body.empty() ? "" : "\n") + part;
        ++i;
      }
      b.add(body + "<end_of_turn>", train);
      b.add("\n");
    } else {
      std::string body;
      while (i < c.messages.size() && c.messages[i].role != Role::assistant) {
        const auto& u = c.messages[i];
        std::string part = u.role == Role::tool ? "<tool_response>\n" + u.content + "\n</tool_response>" : trim(u.content);
        body += (body.empty() ? "" : "\n") + part;
        ++i;
      }
      b.add("<start_of_turn>user\n" + (first_turn ? prefix : std::string()) + body + "<end_of_turn>\n");
    }
    first_turn = false;
  }
  if (gen) b.add("<start_of_turn>model\n");
  return b.out;
}

// "- name(a, b): description" from an OpenAI-style schema ({"type": "function", "function": {...}}
// or the bare function object); small base models read this far more cheaply than JSON schemas.
std::string tool_signature(const ojson& t) {
  const ojson& f = t.contains("function") && t["function"].is_object() ? t["function"] : t;
  if (!f.is_object() || !f.contains("name") || !f["name"].is_string()) return "- " + python_json(t);
  std::string s = "- " + f["name"].get<std::string>() + "(";
  if (f.contains("parameters") && f["parameters"].is_object() && f["parameters"].contains("properties") &&
      f["parameters"]["properties"].is_object()) {
    bool first = true;
    for (auto it = f["parameters"]["properties"].begin(); it != f["parameters"]["properties"].end(); ++it) {
      s += (first ? "" : ", ") + it.key();
      first = false;
    }
  }
  s += ")";
  if (f.contains("description") && f["description"].is_string()) s += ": " + f["description"].get<std::string>();
  return s;
}

RenderedChat render_plain(const Conversation& c, bool last_only, bool gen) {
  Builder b;
  b.out.bos = true;
  size_t i = 0;
  if (!c.messages.empty() && c.messages[0].role == Role::system) {
    b.add("System:\n" + c.messages[0].content + "\n\n");
    i = 1;
  }
  if (!c.tools.empty()) {
    std::string s = "Tools:\n";
    for (const auto& t : c.tools) s += tool_signature(t) + "\n";
    b.add(s + "\n");
  }
  const int last = last_assistant(c);
  if (c.react) {
    // Question: ... / Thought: ... Action: ... Action Input: ... / Observation: ... / Final Answer
    for (; i < c.messages.size(); ++i) {
      const auto& m = c.messages[i];
      const bool train = !last_only || static_cast<int>(i) == last;
      if (m.role == Role::user) b.add("Question: " + m.content + "\n");
      else if (m.role == Role::tool) b.add("Observation: " + m.content + "\n");
      else if (m.role == Role::system) b.add("System: " + m.content + "\n");
      else if (static_cast<int>(i) == last && !gen) {
        b.add(m.content, train);
        b.eos(train);
        b.add("\n");
      } else {
        b.add(m.content + "\n", train);
      }
    }
    // A ReAct transcript continues with "Thought:" from the model; as a generation prompt no turn
    // ends it (the model writes the next step after the last Observation).
    return b.out;
  }
  for (; i < c.messages.size(); ++i) {
    const auto& m = c.messages[i];
    if (m.role == Role::assistant) {
      const bool train = !last_only || static_cast<int>(i) == last;
      b.add("Assistant:\n");
      std::string body = m.content;
      for (const auto& tc : m.tool_calls)
        body += (body.empty() ? "" : "\n") + std::string("<tool_call>{\"name\": ") + python_json(tc.name) +
                ", \"arguments\": " + python_json(tc.arguments) + "}</tool_call>";
      b.add(body, train);
      b.eos(train);
      b.add("\n\n");
    } else if (m.role == Role::tool) {
      b.add("Tool:\n" + m.content + "\n\n");
    } else {
      b.add(std::string(m.role == Role::user ? "User" : "System") + ":\n" + m.content + "\n\n");
    }
  }
  if (gen) b.add("Assistant:\n");
  return b.out;
}

}  // namespace

std::string python_json(const ojson& j, int indent) {
  std::string out;
  dump(out, j, indent, 0);
  return out;
}

RenderedChat render_chat(const Conversation& conv, ChatTemplate tmpl, bool last_turn_only, bool gen) {
  switch (tmpl) {
    case ChatTemplate::chatml: return render_chatml(conv, false, last_turn_only, gen);
    case ChatTemplate::qwen3: return render_chatml(conv, true, last_turn_only, gen);
    case ChatTemplate::llama3: return render_llama3(conv, last_turn_only, gen);
    case ChatTemplate::gemma3: return render_gemma3(conv, last_turn_only, gen);
    case ChatTemplate::plain: return render_plain(conv, last_turn_only, gen);
  }
  fail("chat_template", "unknown template");
}

}  // namespace et
