// Tool calls read back from text: every template's own rendering of a call parses back to that call
// (the renderer is the independent reference), hand-written malformed output counts as malformed,
// and the scores of hand-worked turns.
#include <gtest/gtest.h>

#include "edgetune/eval/tool_calls.h"

namespace et {
namespace {

using ojson = nlohmann::ordered_json;

ToolCall tool_call(const std::string& name, ojson args) {
  ToolCall t;
  t.name = name;
  t.arguments = std::move(args);
  return t;
}

// The trainable text of the first assistant turn of a conversation rendered with `t`.
std::string first_trainable_text(const Conversation& c, ChatTemplate t) {
  for (const auto& s : render_chat(c, t).segments)
    if (s.trainable) return s.text;
  return "";
}

Conversation two_call_conversation() {
  Conversation c;
  c.source = "test:1";
  c.tools = ojson::array();
  c.messages.push_back({Role::user, "Weather in Paris and a 5 minute timer, please.", {}, ""});
  ChatMessage a{Role::assistant, "", {}, ""};
  a.tool_calls.push_back(tool_call("get_weather", ojson{{"city", "Paris"}, {"unit", "celsius"}}));
  a.tool_calls.push_back(tool_call("set_timer", ojson{{"minutes", 5}, {"label", "tea {hot}"}}));
  c.messages.push_back(a);
  c.messages.push_back({Role::tool, "{\"temp\": 21}", {}, ""});
  c.messages.push_back({Role::assistant, "It is 21 C; timer set.", {}, ""});
  return c;
}

TEST(ToolCalls, EveryTemplatesRenderingParsesBack) {
  const Conversation c = two_call_conversation();
  for (ChatTemplate t : {ChatTemplate::plain, ChatTemplate::chatml, ChatTemplate::qwen3, ChatTemplate::llama3,
                         ChatTemplate::gemma3}) {
    SCOPED_TRACE(chat_template_name(t));
    const std::string text = first_trainable_text(c, t);
    ASSERT_FALSE(text.empty());
    const ParsedCalls p = parse_tool_calls(text);
    EXPECT_EQ(p.malformed, 0) << text;
    ASSERT_EQ(p.calls.size(), 2u) << text;
    const CallScore s = score_calls(c.messages[1].tool_calls, p);
    EXPECT_TRUE(s.decision && s.names && s.exact) << text;
    EXPECT_EQ(s.arguments_matched, 4);
  }
}

TEST(ToolCalls, ReActActionsParseBackAndAreTheExpectedCalls) {
  ChatMessage m{Role::assistant,
                "Thought: I need the weather.\nAction: get_weather\nAction Input: {\"city\": \"Oslo\", \"days\": 2}", {}, ""};
  const auto expected = expected_calls(m, /*react=*/true);
  ASSERT_EQ(expected.size(), 1u);
  EXPECT_EQ(expected[0].name, "get_weather");
  EXPECT_EQ(expected[0].arguments["city"], "Oslo");
  EXPECT_EQ(expected[0].arguments["days"], 2);
  // A final answer makes no call.
  EXPECT_TRUE(expected_calls({Role::assistant, "Thought: done.\nFinal Answer: 3 C in Oslo.", {}, ""}, true).empty());
  // In a chat conversation only tool_calls are calls, whatever the text says.
  EXPECT_TRUE(expected_calls({Role::assistant, "{\"name\": \"a\", \"arguments\": {}}", {}, ""}, false).empty());
  // Where the step ends: right after the first Action Input object, and not before it is complete.
  const std::string step = "Thought: t\nAction: a\nAction Input: {\"x\": {\"y\": \"}\"}}\nObservation: ok";
  EXPECT_EQ(react_step_end(step), step.find("\nObservation"));
  EXPECT_EQ(react_step_end("Thought: t\nAction: a\nAction Input: {\"x\": {"), std::string::npos);
  // The input belongs to the Action on the line before it, on its own line.
  ParsedCalls p = parse_tool_calls("Action: a\nAction: b\nAction Input: {\"k\": 1}");
  EXPECT_EQ(p.malformed, 1);
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].name, "b");
  p = parse_tool_calls("Action: a\nAction Input: none\nFinal Answer: {\"x\": 1}");
  EXPECT_EQ(p.calls.size(), 0u);
  EXPECT_EQ(p.malformed, 1);
  // An Action without a JSON input is a malformed call.
  const ParsedCalls bad = parse_tool_calls("Thought: x\nAction: get_weather\nAction Input: Oslo please");
  EXPECT_EQ(bad.calls.size(), 0u);
  EXPECT_EQ(bad.malformed, 1);
}

TEST(ToolCalls, MalformedAndUnusualForms) {
  // Broken JSON inside the tags: a malformed call, the good one still read.
  ParsedCalls p = parse_tool_calls("<tool_call>{\"name\": \"a\", \"arguments\": {\"x\": 1}</tool_call>\n"
                                   "<tool_call>{\"name\": \"b\", \"arguments\": {}}</tool_call>");
  EXPECT_EQ(p.malformed, 1);
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].name, "b");
  // An unterminated block at the end of a cut-off generation.
  p = parse_tool_calls("<tool_call>{\"name\": \"a\", \"argu");
  EXPECT_EQ(p.malformed, 1);
  EXPECT_TRUE(p.any());
  // Arguments given as a JSON string (OpenAI style) are read as the object.
  p = parse_tool_calls("<tool_call>{\"name\": \"a\", \"arguments\": \"{\\\"x\\\": 2}\"}</tool_call>");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].arguments["x"], 2);
  // Plain prose has no call; braces in prose are not calls.
  p = parse_tool_calls("Sure, {maybe} later. {\"note\": 1}");
  EXPECT_FALSE(p.any());
  // A bare object needs arguments to be a call, and a call nested in other JSON is not one.
  EXPECT_FALSE(parse_tool_calls("{\"name\": \"Alice\", \"age\": 30}").any());
  EXPECT_FALSE(parse_tool_calls("{\"result\": {\"name\": \"x\", \"arguments\": {}}}").any());
  // "Action:" inside a JSON string or mid-sentence does not make the text ReAct.
  p = parse_tool_calls("{\"name\": \"note\", \"parameters\": {\"text\": \"Action: x\"}}");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].arguments["text"], "Action: x");
  p = parse_tool_calls("I will take Action: now. {\"name\": \"a\", \"parameters\": {}}");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].name, "a");
}

// Each call's span is the text of its markup: the tags around a Hermes call, "Action:" through the
// Action Input's object, a bare JSON object; one span per parsed call, none for malformed ones.
TEST(ToolCalls, SpansCoverEachCallsMarkup) {
  const std::string hermes1 = "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>";
  const std::string hermes2 = "<tool_call>\n{\"name\": \"b\", \"arguments\": {\"x\": 1}}\n</tool_call>";
  std::string text = "Sure.\n" + hermes1 + "\n<tool_call>{broken}</tool_call>" + hermes2 + " ok";
  ParsedCalls p = parse_tool_calls(text);
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.malformed, 1);
  ASSERT_EQ(p.spans.size(), 2u);
  EXPECT_EQ(text.substr(p.spans[0].first, p.spans[0].second - p.spans[0].first), hermes1);
  EXPECT_EQ(text.substr(p.spans[1].first, p.spans[1].second - p.spans[1].first), hermes2);
  const std::string action = "Action: a\nAction Input: {\"k\": [1, 2]}";
  text = "Thought: go.\n" + action + "\nObservation: fine";
  p = parse_tool_calls(text);
  ASSERT_EQ(p.spans.size(), 1u);
  EXPECT_EQ(text.substr(p.spans[0].first, p.spans[0].second - p.spans[0].first), action);
  const std::string bare = "{\"name\": \"n\", \"parameters\": {\"t\": \"}\"}}";
  text = "Here: " + bare + " done";
  p = parse_tool_calls(text);
  ASSERT_EQ(p.spans.size(), 1u);
  EXPECT_EQ(text.substr(p.spans[0].first, p.spans[0].second - p.spans[0].first), bare);
}

TEST(ToolCalls, ScoresOfHandWorkedTurns) {
  const std::vector<ToolCall> want = {tool_call("set_thermostat", ojson{{"room", "bedroom"}, {"celsius", 21.5}})};
  ParsedCalls got;
  // Right tool, one argument wrong: decision and name right, not exact, 1 of 2 arguments.
  got.calls = {tool_call("set_thermostat", ojson{{"celsius", 21.5}, {"room", "kitchen"}})};
  CallScore s = score_calls(want, got);
  EXPECT_TRUE(s.decision);
  EXPECT_TRUE(s.names);
  EXPECT_FALSE(s.exact);
  EXPECT_EQ(s.arguments_expected, 2);
  EXPECT_EQ(s.arguments_matched, 1);
  // Key order does not matter, and 18 equals 18.0.
  got.calls = {tool_call("set_thermostat", ojson{{"celsius", 21.5}, {"room", "bedroom"}})};
  EXPECT_TRUE(score_calls(want, got).exact);
  EXPECT_TRUE(score_calls({tool_call("t", ojson{{"c", 18}})}, ParsedCalls{{tool_call("t", ojson{{"c", 18.0}})}, 0, {}}).exact);
  // Wrong tool: its arguments do not count.
  got.calls = {tool_call("set_lights", ojson{{"room", "bedroom"}, {"celsius", 21.5}})};
  s = score_calls(want, got);
  EXPECT_TRUE(s.decision);
  EXPECT_FALSE(s.names);
  EXPECT_EQ(s.arguments_matched, 0);
  // No call where one was expected, and the other way round; nothing where nothing was expected.
  EXPECT_FALSE(score_calls(want, ParsedCalls{}).decision);
  EXPECT_FALSE(score_calls({}, got).decision);
  EXPECT_TRUE(score_calls({}, ParsedCalls{}).decision);
  // A malformed extra call spoils the names even when the good one is right.
  got.calls = {tool_call("set_thermostat", ojson{{"room", "bedroom"}, {"celsius", 21.5}})};
  got.malformed = 1;
  EXPECT_FALSE(score_calls(want, got).names);
}

}  // namespace
}  // namespace et
