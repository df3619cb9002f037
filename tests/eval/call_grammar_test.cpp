// The call grammar against independent references: every template's own rendering of a call is
// accepted; hand-written violations of each rule are refused at the byte that breaks it; and
// random walks through the grammar (random accepted bytes, then the grammar's own completion)
// always give text that the tool-call reader parses with no malformed call and whose calls pass
// the BFCL schema check, with completion_length equal to the completion's length at every step.
#include <gtest/gtest.h>

#include <random>

#include "edgetune/eval/bfcl.h"
#include "edgetune/eval/call_grammar.h"
#include "edgetune/eval/tool_calls.h"

namespace et {
namespace {

using ojson = nlohmann::ordered_json;

const char* kTools = R"([
  {"type": "function", "function": {"name": "set_lights", "description": "lights",
    "parameters": {"type": "object", "properties": {"room": {"type": "string"}, "on": {"type": "boolean"},
      "brightness": {"type": "integer"}}, "required": ["room", "on"]}}},
  {"type": "function", "function": {"name": "order", "parameters": {"type": "object", "properties": {
      "items": {"type": "array", "items": {"type": "string"}},
      "store": {"type": "string", "enum": ["FreshCo", "GreenMart"]},
      "when": {"type": "dict", "properties": {"day": {"type": "string"}, "hour": {"type": "integer"}}, "required": ["day"]},
      "extra": {"type": "object"}, "ratio": {"type": "float"}, "note": {"type": ["string", "null"]},
      "level": {"type": "integer", "enum": [1, 10, 100]}},
    "required": ["items"]}}},
  {"name": "go", "parameters": {"type": "object", "properties": {}}},
  {"name": "gone", "parameters": {"type": "dict", "properties": {"x": {"type": "tuple", "items": {"type": "number"}}},
    "required": ["x"]}}
])";

ojson tools() { return ojson::parse(kTools); }

ToolCall call(const std::string& name, ojson args) {
  ToolCall t;
  t.name = name;
  t.arguments = std::move(args);
  return t;
}

// The trainable text of the first assistant turn, without the template's end-of-turn text.
std::string first_turn_text(const Conversation& c, ChatTemplate t) {
  for (const auto& s : render_chat(c, t).segments)
    if (s.trainable) {
      std::string text = s.text;
      for (const char* end : {"<|im_end|>", "<|eot_id|>", "<end_of_turn>"}) {
        const size_t at = text.find(end);
        if (at != std::string::npos) text.resize(at);
      }
      return text;
    }
  return "";
}

// Feeds `text`; returns the index of the first refused byte, or -1 when all are accepted.
long refused_at(const CallGrammar& g, const std::string& text, CallState* out = nullptr) {
  CallState s = g.start();
  for (size_t i = 0; i < text.size(); ++i)
    if (!g.advance(s, static_cast<uint8_t>(text[i]))) return static_cast<long>(i);
  if (out) copy_state(*out, s);
  return -1;
}

TEST(CallGrammar, EveryTemplatesRenderingIsAccepted) {
  Conversation c;
  c.tools = tools();
  c.messages.push_back({Role::user, "Lights and groceries.", {}, ""});
  ChatMessage a{Role::assistant, "", {}, ""};
  a.tool_calls.push_back(call("set_lights", ojson{{"room", "kitchen \"main\""}, {"on", true}, {"brightness", 40}}));
  a.tool_calls.push_back(call("order", ojson{{"items", {"oat milk", "eggs"}}, {"store", "FreshCo"},
                                             {"when", {{"day", "Mo"}}}, {"ratio", -2.5e-3}, {"note", nullptr},
                                             {"level", 10}, {"extra", {{"a", {1, {{"b", false}}}}}}}));
  a.tool_calls.push_back(call("go", ojson::object()));
  c.messages.push_back(a);
  for (ChatTemplate t : {ChatTemplate::plain, ChatTemplate::chatml, ChatTemplate::qwen3, ChatTemplate::llama3,
                         ChatTemplate::gemma3}) {
    SCOPED_TRACE(chat_template_name(t));
    const CallGrammar g(call_syntax_for(t, false), c.tools);
    const std::string text = first_turn_text(c, t);
    ASSERT_FALSE(text.empty());
    CallState end;
    EXPECT_EQ(refused_at(g, text, &end), -1) << text;
    EXPECT_TRUE(CallGrammar::at_text(end));
  }
  // ReAct: a thought, the action, its input.
  const CallGrammar react(CallSyntax::react, c.tools);
  CallState end;
  EXPECT_EQ(refused_at(react, "Thought: the lights.\nAction: set_lights\nAction Input: {\"room\": \"hall\", \"on\": false}",
                       &end),
            -1);
  EXPECT_TRUE(CallGrammar::at_text(end));
}

TEST(CallGrammar, EachRuleRefusesAtTheBreakingByte) {
  const CallGrammar g(CallSyntax::hermes, tools());
  const std::string open = "<tool_call>{\"name\": ";
  struct Case {
    std::string text;
    std::string bad;  // the text before the refused byte
  };
  const std::vector<Case> cases = {
      {open + "\"lamp\"", open + "\""},                                                  // not an offered function
      {open + "\"set_lightsx\"", open + "\"set_lights"},                                 // ... nor a longer name
      {open + "\"go\", \"arguments\": {\"x\"", open + "\"go\", \"arguments\": {"},        // no properties: no keys
      {open + "\"set_lights\", \"arguments\": {\"rom\"", open + "\"set_lights\", \"arguments\": {\"ro"},  // unknown key
      {open + "\"set_lights\", \"arguments\": {\"room\": \"a\"}", open + "\"set_lights\", \"arguments\": {\"room\": \"a\""},  // required "on" missing
      {open + "\"set_lights\", \"arguments\": {\"room\": 1", open + "\"set_lights\", \"arguments\": {\"room\": "},  // string expected
      {open + "\"set_lights\", \"arguments\": {\"on\": 1", open + "\"set_lights\", \"arguments\": {\"on\": "},  // boolean expected
      {open + "\"set_lights\", \"arguments\": {\"brightness\": 4.5", open + "\"set_lights\", \"arguments\": {\"brightness\": 4"},  // integer
      {open + "\"set_lights\", \"arguments\": {\"brightness\": 04", open + "\"set_lights\", \"arguments\": {\"brightness\": 0"},  // leading zero
      {open + "\"set_lights\", \"arguments\": {\"on\": true, \"on\"", open + "\"set_lights\", \"arguments\": {\"on\": true, \""},  // twice: no key left that starts so
      {open + "\"order\", \"arguments\": {\"items\": [], \"store\": \"Fresh\"", open + "\"order\", \"arguments\": {\"items\": [], \"store\": \"Fresh"},  // enum
      {open + "\"order\", \"arguments\": {\"items\": [], \"level\": 5", open + "\"order\", \"arguments\": {\"items\": [], \"level\": "},  // enum
      {open + "\"order\", \"arguments\": {\"items\": [1", open + "\"order\", \"arguments\": {\"items\": ["},  // items: strings
      {open + "\"order\", \"arguments\": {\"items\": [], \"when\": {}", open + "\"order\", \"arguments\": {\"items\": [], \"when\": {"},  // nested required
      {open + "\"order\", \"arguments\": {\"items\": [\"a\nb\"]", open + "\"order\", \"arguments\": {\"items\": [\"a"},  // control character
      {open + "\"order\", \"arguments\": {\"items\": [\"a\\qb\"]", open + "\"order\", \"arguments\": {\"items\": [\"a\\"},  // escape
      {open + "\"order\", \"arguments\": {\"items\": [\"<tool_call>\"]", open + "\"order\", \"arguments\": {\"items\": [\"<tool_call"},
      {open + "\"order\", \"arguments\": {\"items\": [\"</tool_call>\"]", open + "\"order\", \"arguments\": {\"items\": [\"</tool_call"},
      {open + "\"go\",  \"arguments\"", open + "\"go\", "},                              // one space at most
      {open + "\"go\", \"arguments\": {}} x", open + "\"go\", \"arguments\": {}} "},       // the closing tag
      {"Sure {", "Sure "},                                                               // no JSON in text
      {"Sure\nAction: go", "Sure\nAction"},                                              // no ReAct action in text
      {"caf\xC3(", "caf\xC3"},                                                           // broken UTF-8
      {"\xC0\x80", ""},                                                                  // overlong
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(refused_at(g, c.text), static_cast<long>(c.bad.size()));
  }
  // Llama 3 takes "{" as a call; ReAct refuses <tool_call> in text.
  const CallGrammar l3(CallSyntax::llama3_json, tools());
  EXPECT_EQ(refused_at(l3, "{\"name\": \"go\", \"arguments\""), static_cast<long>(std::string("{\"name\": \"go\", \"").size()));
  EXPECT_EQ(refused_at(l3, "{\"name\": \"go\", \"parameters\": {}} done"), -1);
  const CallGrammar react(CallSyntax::react, tools());
  EXPECT_EQ(refused_at(react, "I think <tool_call>"), static_cast<long>(std::string("I think <tool_call").size()));
  EXPECT_EQ(refused_at(react, "Action: gone\nAction Input: {\"x\": []}"), -1);
  EXPECT_EQ(refused_at(react, "Thought: x Action: lamp"), -1);  // mid-line: text
  EXPECT_EQ(refused_at(react, "Action: lamp"), static_cast<long>(std::string("Action: ").size()));
}

// One random walk: `steps` random accepted bytes (in a call, preferring bytes that bring the
// completion nearer half of the time, so walks also finish calls), then the completion. Checks
// completion_length against completion at every step.
std::string random_turn(const CallGrammar& g, std::mt19937& rng, int steps) {
  CallState s = g.start();
  std::string text;
  for (int i = 0; i < steps; ++i) {
    std::vector<uint8_t> ok, nearer;
    const int64_t len = g.completion_length(s);
    for (int b = 1; b < 256; ++b) {
      CallState t;
      copy_state(t, s);
      if (!g.advance(t, static_cast<uint8_t>(b))) continue;
      ok.push_back(static_cast<uint8_t>(b));
      if (g.completion_length(t) < len) nearer.push_back(static_cast<uint8_t>(b));
    }
    EXPECT_FALSE(ok.empty()) << "no byte may follow " << text;
    if (ok.empty()) break;
    // Text picks an opening often enough to make calls.
    const auto& pool = (!nearer.empty() && rng() % 2) ? nearer : ok;
    uint8_t b = pool[rng() % pool.size()];
    if (!s.in_call && rng() % 4 == 0) {
      const std::string open = g.syntax() == CallSyntax::hermes ? "<tool_call>"
                               : g.syntax() == CallSyntax::react ? "\nAction:" : "{";
      CallState t;
      copy_state(t, s);
      if (g.advance(t, open)) {
        text += open;
        copy_state(s, t);
        continue;
      }
    }
    EXPECT_TRUE(g.advance(s, b)) << "an accepted byte was refused";
    text += static_cast<char>(b);
    const std::string rest = g.completion(s);
    EXPECT_EQ(static_cast<int64_t>(rest.size()), g.completion_length(s)) << text;
  }
  const std::string rest = g.completion(s);
  EXPECT_EQ(static_cast<int64_t>(rest.size()), g.completion_length(s));
  CallState end;
  copy_state(end, s);
  EXPECT_TRUE(g.advance(end, rest)) << text << " + " << rest;
  EXPECT_TRUE(CallGrammar::at_text(end)) << text << " + " << rest;
  return text + rest;
}

TEST(CallGrammar, RandomTurnsParseAndValidate) {
  const ojson t = tools();
  ojson functions = ojson::array();
  for (const auto& x : t) functions.push_back(x.contains("function") ? x["function"] : x);
  std::mt19937 rng(7);
  int calls = 0;
  for (CallSyntax syntax : {CallSyntax::hermes, CallSyntax::llama3_json, CallSyntax::react}) {
    SCOPED_TRACE(call_syntax_name(syntax));
    const CallGrammar g(syntax, t);
    for (int k = 0; k < 60; ++k) {
      const std::string text = random_turn(g, rng, 10 + static_cast<int>(rng() % 120));
      const ParsedCalls p = parse_tool_calls(text);
      EXPECT_EQ(p.malformed, 0) << text;
      for (const auto& c : p.calls) EXPECT_EQ(bfcl_schema_error(functions, c), "") << text;
      calls += static_cast<int>(p.calls.size());
    }
  }
  EXPECT_GT(calls, 60) << "the walks made too few calls to test anything";
}

TEST(CallGrammar, CompletionIsTheShortestCall) {
  const CallGrammar g(CallSyntax::hermes, tools());
  CallState s = g.start();
  ASSERT_TRUE(g.advance(s, "<tool_call>"));
  // "go" with no arguments is the cheapest call.
  EXPECT_EQ(g.completion(s), "{\"name\":\"go\",\"arguments\":{}}</tool_call>");
  ASSERT_TRUE(g.advance(s, "{\"name\": \"set_l"));
  EXPECT_EQ(g.completion(s), "ights\",\"arguments\":{\"on\":true,\"room\":\"\"}}</tool_call>");
  ASSERT_TRUE(g.advance(s, "ights\", \"arguments\": {\"brightness\": 1"));
  EXPECT_EQ(g.completion(s), ",\"on\":true,\"room\":\"\"}}</tool_call>");
  EXPECT_EQ(g.completion_length(g.start()), 0);
}

}  // namespace
}  // namespace et
