// BFCL files (bfcl.h): questions, possible answers, chat JSONL as examples, predictions; the
// offered functions as chat-template tools.
#include <cctype>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "edgetune/core/error.h"
#include "edgetune/core/log.h"
#include "edgetune/data/trajectory.h"
#include "edgetune/eval/bfcl.h"

namespace et {

namespace {

using ojson = nlohmann::ordered_json;

// Calls fn(object, line text, "file:line") for each non-empty line; a line that is not a JSON
// object is an error naming it.
void for_each_object(const std::string& path,
                     const std::function<void(const ojson&, const std::string&, const std::string&)>& fn) {
  std::ifstream in(path);
  if (!in) fail("bfcl", path, ": cannot open");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string src = path + ":" + std::to_string(n);
    ojson j;
    try {
      j = ojson::parse(line);
    } catch (const std::exception& e) {
      fail("bfcl", src, ": not valid JSON (", e.what(), ")");
    }
    if (!j.is_object()) fail("bfcl", src, ": each line must be a JSON object");
    fn(j, line, src);
  }
}

std::string id_of(const ojson& j, const std::string& src, bool required) {
  if (j.contains("id")) {
    if (j["id"].is_string()) return j["id"].get<std::string>();
    if (j["id"].is_number_integer()) return j["id"].dump();
    fail("bfcl", src, ": \"id\" must be a string");
  }
  if (required) fail("bfcl", src, ": no \"id\"");
  return "";
}

Role parse_role(const std::string& r, const std::string& src) {
  if (r == "system" || r == "developer") return Role::system;
  if (r == "user") return Role::user;
  if (r == "assistant") return Role::assistant;
  if (r == "tool") return Role::tool;
  fail("bfcl", src, ": unknown role '", r, "' (system, user, assistant, tool)");
}

ChatMessage parse_message(const ojson& m, const std::string& src) {
  if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
    fail("bfcl", src, ": each message of \"question\" needs a \"role\"");
  ChatMessage out;
  out.role = parse_role(m["role"].get<std::string>(), src);
  if (m.contains("content") && !m["content"].is_null()) {
    if (!m["content"].is_string()) fail("bfcl", src, ": a message's \"content\" must be a string");
    out.content = m["content"].get<std::string>();
  }
  return out;
}

// "question": a list of turns, each a list of messages (or a flat list of messages).
std::vector<ChatMessage> parse_question(const ojson& q, const std::string& src) {
  if (!q.is_array() || q.empty()) fail("bfcl", src, ": \"question\" must be a non-empty list of turns");
  std::vector<ChatMessage> out;
  for (const auto& turn : q) {
    if (turn.is_array()) {
      for (const auto& m : turn) out.push_back(parse_message(m, src));
    } else {
      out.push_back(parse_message(turn, src));
    }
  }
  if (out.empty()) fail("bfcl", src, ": \"question\" has no messages");
  return out;
}

ojson parse_functions(const ojson& j, const std::string& src) {
  if (!j.contains("function")) fail("bfcl", src, ": no \"function\" (the offered functions)");
  ojson fs = j["function"];
  if (fs.is_object()) fs = ojson::array({fs});
  if (!fs.is_array()) fail("bfcl", src, ": \"function\" must be a list of function docs");
  for (const auto& f : fs) {
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string())
      fail("bfcl", src, ": each function doc needs a \"name\"");
    if (f.contains("parameters") && !f["parameters"].is_object())
      fail("bfcl", src, ": \"parameters\" of '", f["name"].get<std::string>(), "' must be an object");
  }
  return fs;
}

bool offers(const ojson& functions, const std::string& name) {
  for (const auto& f : functions)
    if (f["name"] == name) return true;
  return false;
}

std::string base_name(const std::string& path) {
  const size_t s = path.find_last_of('/');
  return s == std::string::npos ? path : path.substr(s + 1);
}

// ground_truth: [{name: {param: [allowed...]}}, ...]
std::vector<BfclExpectedCall> parse_ground_truth(const ojson& j, const std::string& src) {
  if (!j.contains("ground_truth")) fail("bfcl", src, ": no \"ground_truth\"");
  const ojson& gt = j["ground_truth"];
  if (!gt.is_array()) fail("bfcl", src, ": ground_truth is not a list");
  std::vector<BfclExpectedCall> out;
  for (const auto& c : gt) {
    if (!c.is_object() || c.size() != 1 || !c.begin().value().is_object())
      fail("bfcl", src, ": each ground_truth call must be {function_name: {param: [allowed values]}}");
    BfclExpectedCall e;
    e.name = c.begin().key();
    e.allowed = c.begin().value();
    for (auto it = e.allowed.begin(); it != e.allowed.end(); ++it)
      if (!it.value().is_array())
        fail("bfcl", src, ": the allowed values of '", it.key(), "' in '", e.name, "' are not a list");
    out.push_back(std::move(e));
  }
  return out;
}

// An argument of a chat tool call as a possible answer's allowed value: a dict (at the top, or an
// item of a list) maps each key to a list of its one allowed value.
ojson as_allowed(const ojson& v, bool top) {
  if (v.is_object() && top) {
    ojson out = ojson::object();
    for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = ojson::array({it.value()});
    return out;
  }
  if (v.is_array() && top) {
    ojson out = ojson::array();
    for (const auto& x : v) out.push_back(x.is_object() ? as_allowed(x, true) : x);
    return out;
  }
  return v;
}

std::string chat_category(const std::vector<BfclExpectedCall>& calls, const ojson& functions) {
  const bool many = functions.size() > 1;
  if (calls.empty()) return "irrelevance";
  if (calls.size() == 1) return many ? "multiple" : "simple";
  return many ? "parallel_multiple" : "parallel";
}

bool is_chat_file(const std::string& path) {
  bool chat = false, seen = false;
  std::ifstream in(path);
  if (!in) fail("bfcl", path, ": cannot open");
  std::string line;
  while (!seen && std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    seen = true;
    const ojson j = ojson::parse(line, nullptr, false);
    chat = j.is_object() && (j.contains("messages") || j.contains("trajectory"));
  }
  return chat;
}

ojson schema_in_json_schema_words(const ojson& s) {
  if (!s.is_object()) return s;
  ojson out = s;
  if (out.contains("type") && out["type"].is_string()) {
    const std::string t = out["type"].get<std::string>();
    if (t == "dict")
      out["type"] = "object";
    else if (t == "float" || t == "double")
      out["type"] = "number";
    else if (t == "tuple" || t == "list")
      out["type"] = "array";
    else if (t == "int")
      out["type"] = "integer";
    else if (t == "bool")
      out["type"] = "boolean";
    else if (t == "any")
      out.erase("type");
  }
  if (out.contains("properties") && out["properties"].is_object())
    for (auto it = out["properties"].begin(); it != out["properties"].end(); ++it)
      it.value() = schema_in_json_schema_words(it.value());
  for (const char* key : {"items", "additionalProperties"})
    if (out.contains(key)) out[key] = schema_in_json_schema_words(out[key]);
  return out;
}

}  // namespace

std::string bfcl_category(const std::string& id, const std::string& path) {
  const size_t u = id.find_last_of('_');
  if (u != std::string::npos && u > 0 && u + 1 < id.size() && std::isdigit(static_cast<unsigned char>(id[u + 1])) &&
      id.find_first_not_of("0123456789-", u + 1) == std::string::npos)
    return id.substr(0, u);
  std::string name = base_name(path);
  for (const char* ext : {".jsonl", ".json"}) {
    const std::string e = ext;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) {
      name.resize(name.size() - e.size());
      break;
    }
  }
  if (name.rfind("BFCL_v", 0) == 0) {
    const size_t p = name.find('_', 6);
    if (p != std::string::npos && p > 6 && p + 1 < name.size() && name.find_first_not_of("0123456789", 6) == p)
      return name.substr(p + 1);
  }
  return "";
}

std::vector<BfclExample> load_bfcl_chat(const std::string& path) {
  std::vector<BfclExample> out;
  std::set<std::string> ids;
  for_each_object(path, [&](const ojson& j, const std::string& line, const std::string& src) {
    const Conversation conv = parse_trajectory(line, "auto", src);
    BfclExample e;
    e.source = src;
    e.id = id_of(j, src, false);
    if (e.id.empty()) e.id = src;
    if (!ids.insert(e.id).second) fail("bfcl", src, ": id '", e.id, "' repeated");
    for (const auto& t : conv.tools) {
      const ojson& f = t.is_object() && t.contains("function") && t["function"].is_object() ? t["function"] : t;
      if (!f.is_object() || !f.contains("name") || !f["name"].is_string())
        fail("bfcl", src, ": each tool needs a function \"name\"");
      e.functions.push_back(f);
    }
    size_t k = 0;
    while (k < conv.messages.size() && conv.messages[k].role != Role::assistant) ++k;
    if (k == conv.messages.size()) fail("bfcl", src, ": no assistant turn (the expected answer)");
    if (k == 0) fail("bfcl", src, ": the conversation starts with the assistant (no question)");
    e.question.assign(conv.messages.begin(), conv.messages.begin() + static_cast<long>(k));
    for (const auto& c : expected_calls(conv.messages[k], conv.react)) {
      if (!offers(e.functions, c.name))
        fail("bfcl", src, ": the assistant calls '", c.name, "', which \"tools\" does not offer");
      BfclExpectedCall x;
      x.name = c.name;
      for (auto it = c.arguments.begin(); it != c.arguments.end(); ++it)
        x.allowed[it.key()] = ojson::array({as_allowed(it.value(), true)});
      e.expected.push_back(std::move(x));
    }
    e.category = bfcl_category(e.id == src ? "" : e.id, "");
    if (e.category.empty()) e.category = chat_category(e.expected, e.functions);
    e.rule = bfcl_rule_for_category(e.category);
    out.push_back(std::move(e));
  });
  if (out.empty()) fail("bfcl", path, ": no conversations");
  return out;
}

std::vector<BfclExample> load_bfcl(const std::string& questions, const std::string& answers) {
  if (is_chat_file(questions)) {
    if (!answers.empty())
      fail("bfcl", questions, ": chat JSONL carries its own answers (the assistant's tool calls); drop --answers ",
           answers);
    return load_bfcl_chat(questions);
  }
  std::vector<BfclExample> out;
  std::map<std::string, size_t> index;
  for_each_object(questions, [&](const ojson& j, const std::string&, const std::string& src) {
    BfclExample e;
    e.source = src;
    e.id = id_of(j, src, true);
    if (!index.emplace(e.id, out.size()).second) fail("bfcl", src, ": id '", e.id, "' repeated");
    if (!j.contains("question")) fail("bfcl", src, ": no \"question\"");
    e.question = parse_question(j["question"], src);
    e.functions = parse_functions(j, src);
    e.category = bfcl_category(e.id, questions);
    e.rule = bfcl_rule_for_category(e.category);
    out.push_back(std::move(e));
  });
  if (out.empty()) fail("bfcl", questions, ": no questions");

  std::set<std::string> answered;
  if (!answers.empty()) {
    int unknown = 0;
    for_each_object(answers, [&](const ojson& j, const std::string&, const std::string& src) {
      const std::string id = id_of(j, src, true);
      auto it = index.find(id);
      if (it == index.end()) {
        ++unknown;
        return;
      }
      if (!answered.insert(id).second) fail("bfcl", src, ": a second possible answer for '", id, "'");
      BfclExample& e = out[it->second];
      e.expected = parse_ground_truth(j, src);
      for (const auto& c : e.expected)
        if (!offers(e.functions, c.name))
          fail("bfcl", src, ": the answer for '", id, "' calls '", c.name, "', which the question (", e.source,
               ") does not offer");
    });
    if (unknown > 0) log_debug("bfcl: ", unknown, " possible answers in ", answers, " are for other questions");
  }
  for (auto& e : out) {
    if (e.rule == BfclRule::no_call) {
      e.expected.clear();
      continue;
    }
    if (answered.count(e.id)) continue;
    if (answers.empty())
      fail("bfcl", e.source, ": '", e.id, "' (category ", e.category.empty() ? "unknown" : e.category,
           ") needs its possible answers (--answers possible_answer/", base_name(questions), ")");
    fail("bfcl", answers, ": no possible answer for '", e.id, "' (", e.source, ")");
  }
  return out;
}

std::vector<BfclPrediction> load_bfcl_predictions(const std::string& path) {
  std::vector<BfclPrediction> out;
  std::map<std::string, std::string> first;
  for_each_object(path, [&](const ojson& j, const std::string&, const std::string& src) {
    BfclPrediction p;
    p.id = id_of(j, src, true);
    if (!j.contains("result")) fail("bfcl", src, ": no \"result\" (the model's output for '", p.id, "')");
    p.result = j["result"];
    p.source = src;
    auto [it, fresh] = first.emplace(p.id, src);
    if (!fresh) fail("bfcl", src, ": a second prediction for '", p.id, "' (the first at ", it->second, ")");
    out.push_back(std::move(p));
  });
  return out;
}

nlohmann::ordered_json bfcl_tools(const nlohmann::ordered_json& functions) {
  ojson out = ojson::array();
  for (const auto& f : functions) {
    ojson g = ojson::object();
    for (auto it = f.begin(); it != f.end(); ++it)
      g[it.key()] = it.key() == "parameters" ? schema_in_json_schema_words(it.value()) : it.value();
    out.push_back({{"type", "function"}, {"function", g}});
  }
  return out;
}

}  // namespace et
