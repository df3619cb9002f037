// The loss mask token by token, for every chat template and both trajectory forms. The tokenizer
// gives every byte its own token and knows every template's special tokens, so the example read
// back as text with its target runs marked «like this» shows exactly which characters are trained.
// The expected strings are written out by hand from each family's chat template: only the
// assistant's output (thought, tool call, answer) and the token ending its turn are targets; never
// the system prompt, tools, user turns, tool results / observations or role headers.
#include <gtest/gtest.h>

#include "data_test_util.h"
#include "edgetune/data/examples.h"
#include "edgetune/data/trajectory.h"
#include "edgetune/tokenize/chat_template.h"

using namespace et;
using namespace et::test;

namespace {

const std::string kTools =
    R"([{"type": "function", "function": {"name": "get_weather", "description": "Weather now", )"
    R"("parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])";

const std::string kChatLine =
    R"({"tools": )" + kTools +
    R"(, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}, )"
    R"({"role": "assistant", "content": "I will look it up.", "tool_calls": [{"type": "function", "function": )"
    R"({"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}, )"
    R"({"role": "tool", "name": "get_weather", "content": "18C, sunny"}, )"
    R"({"role": "assistant", "content": "It is 18C and sunny."}]})";

const std::string kReactLine =
    R"({"system": "Be brief.", "tools": )" + kTools +
    R"(, "question": "Weather in Paris?", "trajectory": "Thought: I need the weather.\nAction: get_weather\n)"
    R"(Action Input: {\"city\": \"Paris\"}\nObservation: 18C, sunny\nThought: I know it now.\n)"
    R"(Final Answer: It is 18C and sunny."})";

const std::string kTwoTurnLine =
    R"({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, )"
    R"({"role": "user", "content": "Bye"}, {"role": "assistant", "content": "See you."}]})";

// Pieces of the expected renderings.
const std::string kToolJson =
    R"({"type": "function", "function": {"name": "get_weather", "description": "Weather now", )"
    R"("parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})";
const std::string kToolJson4 =
    "{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n"
    "        \"description\": \"Weather now\",\n        \"parameters\": {\n            \"type\": \"object\",\n"
    "            \"properties\": {\n                \"city\": {\n                    \"type\": \"string\"\n"
    "                }\n            },\n            \"required\": [\n                \"city\"\n            ]\n"
    "        }\n    }\n}";
const std::string kCall = R"({"name": "get_weather", "arguments": {"city": "Paris"}})";
const std::string kThought1 = "Thought: I need the weather.\nAction: get_weather\nAction Input: {\"city\": \"Paris\"}";
const std::string kThought2 = "Thought: I know it now.\nFinal Answer: It is 18C and sunny.";

const std::string kChatmlSystem =
    "<|im_start|>system\nBe brief.\n\n# Tools\n\nYou may call one or more functions to assist with the user "
    "query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" +
    kToolJson +
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
    "<args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n";

const std::string kLlama3Head =
    "<s><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December "
    "2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nGiven the "
    "following functions, please respond with a JSON for a function call with its proper arguments that best "
    "answers the given prompt.\n\nRespond in the format {\"name\": function name, \"parameters\": dictionary of "
    "argument name and its value}.Do not use variables.\n\n" +
    kToolJson4 + "\n\nWeather in Paris?<|eot_id|>";

const std::string kGemmaHead =
    "<s><start_of_turn>user\nBe brief.\n\nYou may call functions. Their signatures, within <tools></tools> "
    "tags:\n<tools>\n" +
    kToolJson +
    "\n</tools>\n\nTo call a function, reply with <tool_call>\n{\"name\": <function-name>, \"arguments\": "
    "<args-json-object>}\n</tool_call>\n\nWeather in Paris?<end_of_turn>\n";

const std::string kPlainHead = "<s>System:\nBe brief.\n\nTools:\n- get_weather(city): Weather now\n\n";

struct Case {
  ChatTemplate tmpl;
  std::string line;
  std::string want;
};

std::vector<Case> cases() {
  const std::string chatml_chat = kChatmlSystem + "<|im_start|>assistant\n«I will look it up.\n<tool_call>\n" + kCall +
                                  "\n</tool_call><|im_end|>»\n<|im_start|>user\n<tool_response>\n18C, sunny\n"
                                  "</tool_response><|im_end|>\n<|im_start|>assistant\n«It is 18C and sunny.<|im_end|>»\n";
  const std::string chatml_react = kChatmlSystem + "<|im_start|>assistant\n«" + kThought1 +
                                   "<|im_end|>»\n<|im_start|>user\n<tool_response>\n18C, sunny\n</tool_response>"
                                   "<|im_end|>\n<|im_start|>assistant\n«" + kThought2 + "<|im_end|>»\n";
  // Qwen3 differs from Qwen2.5 without a system message (no default prompt) and in the empty think
  // block that opens the final assistant turn after the last user message.
  auto with_think = [](std::string s) {
    const std::string last = "<|im_start|>assistant\n«";
    return s.insert(s.rfind(last) + last.size() - 2, "<think>\n\n</think>\n\n");
  };
  return {
      {ChatTemplate::chatml, kChatLine, chatml_chat},
      {ChatTemplate::chatml, kReactLine, chatml_react},
      {ChatTemplate::qwen3, kChatLine, with_think(chatml_chat)},
      {ChatTemplate::qwen3, kReactLine, with_think(chatml_react)},
      {ChatTemplate::llama3, kChatLine,
       kLlama3Head + "<|start_header_id|>assistant<|end_header_id|>\n\n«{\"name\": \"get_weather\", \"parameters\": "
                     "{\"city\": \"Paris\"}}<|eot_id|>»<|start_header_id|>ipython<|end_header_id|>\n\n18C, sunny"
                     "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n«It is 18C and sunny.<|eot_id|>»"},
      {ChatTemplate::llama3, kReactLine,
       kLlama3Head + "<|start_header_id|>assistant<|end_header_id|>\n\n«" + kThought1 +
           "<|eot_id|>»<|start_header_id|>ipython<|end_header_id|>\n\n18C, sunny<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\n«" + kThought2 + "<|eot_id|>»"},
      {ChatTemplate::gemma3, kChatLine,
       kGemmaHead + "<start_of_turn>model\n«I will look it up.\n<tool_call>\n" + kCall +
           "\n</tool_call><end_of_turn>»\n<start_of_turn>user\n<tool_response>\n18C, sunny\n</tool_response>"
           "<end_of_turn>\n<start_of_turn>model\n«It is 18C and sunny.<end_of_turn>»\n"},
      {ChatTemplate::gemma3, kReactLine,
       kGemmaHead + "<start_of_turn>model\n«" + kThought1 + "<end_of_turn>»\n<start_of_turn>user\n<tool_response>\n"
                    "18C, sunny\n</tool_response><end_of_turn>\n<start_of_turn>model\n«" + kThought2 + "<end_of_turn>»\n"},
      {ChatTemplate::plain, kChatLine,
       kPlainHead + "User:\nWeather in Paris?\n\nAssistant:\n«I will look it up.\n<tool_call>" + kCall +
           "</tool_call></s>»\n\nTool:\n18C, sunny\n\nAssistant:\n«It is 18C and sunny.</s>»\n\n"},
      {ChatTemplate::plain, kReactLine,
       kPlainHead + "Question: Weather in Paris?\n«" + kThought1 + "\n»Observation: 18C, sunny\n«" + kThought2 + "</s>»\n"},
  };
}

// The two-turn conversation without system prompt or tools; `first` is the mark of the first
// answer ("«Hello!...»" when every turn trains, "Hello!..." with last_turn_only).
std::string two_turn(ChatTemplate t, bool last_only) {
  auto mark = [&](const std::string& s) { return last_only ? s : "«" + s + "»"; };
  switch (t) {
    case ChatTemplate::chatml:
      return "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
             "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n" + mark("Hello!<|im_end|>") +
             "\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n«See you.<|im_end|>»\n";
    case ChatTemplate::qwen3:
      return "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n" + mark("Hello!<|im_end|>") +
             "\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n«See you.<|im_end|>»\n";
    case ChatTemplate::llama3:
      return "<s><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: "
             "26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
             "<|start_header_id|>assistant<|end_header_id|>\n\n" + mark("Hello!<|eot_id|>") +
             "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant"
             "<|end_header_id|>\n\n«See you.<|eot_id|>»";
    case ChatTemplate::gemma3:
      return "<s><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n" + mark("Hello!<end_of_turn>") +
             "\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n«See you.<end_of_turn>»\n";
    case ChatTemplate::plain:
      return "<s>User:\nHi\n\nAssistant:\n" + mark("Hello!</s>") + "\n\nUser:\nBye\n\nAssistant:\n«See you.</s>»\n\n";
  }
  return "";
}

class LossMask : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { tok_ = load_tokenizer(write_byte_tokenizer("mask-tok")).release(); }
  static void TearDownTestSuite() {
    delete tok_;
    tok_ = nullptr;
  }
  // The line through the JSONL reader (as training reads it), rendered and tokenized.
  static TokenizedExample example(const std::string& line, ChatTemplate t, bool last_only) {
    const std::string path = path_join(temp_dir("mask-data"), "one.jsonl");
    write_file_atomic(path, line + "\n");
    auto convs = load_trajectories(path, "auto", "fail");
    EXPECT_EQ(convs.size(), 1u);
    return tokenize_chat(render_chat(convs.at(0), t, last_only), *tok_, 1 << 20, convs[0].source);
  }
  static Tokenizer* tok_;
};
Tokenizer* LossMask::tok_ = nullptr;

TEST_F(LossMask, EveryByteOfEachTemplateAndForm) {
  // One token per byte (the test relies on it).
  EXPECT_EQ(tok_->encode("ab c", false, false), (std::vector<int32_t>{'a', 'b', ' ', 'c'}));
  EXPECT_EQ(tok_->encode("<|im_end|>\n", false, true), (std::vector<int32_t>{259, '\n'}));
  for (const auto& c : cases()) {
    const bool react = c.line == kReactLine;
    SCOPED_TRACE(std::string(chat_template_name(c.tmpl)) + (react ? " react" : " chat"));
    TokenizedExample ex = example(c.line, c.tmpl, false);
    ASSERT_EQ(ex.ids.size(), ex.target.size());
    EXPECT_EQ(marked_text(ex, *tok_), c.want);
    EXPECT_EQ(ex.target.at(0), 0);
  }
}

TEST_F(LossMask, LastTurnOnlyTrainsTheFinalAnswer) {
  for (ChatTemplate t : {ChatTemplate::plain, ChatTemplate::llama3, ChatTemplate::chatml, ChatTemplate::qwen3,
                         ChatTemplate::gemma3}) {
    SCOPED_TRACE(chat_template_name(t));
    EXPECT_EQ(marked_text(example(kTwoTurnLine, t, false), *tok_), two_turn(t, false));
    EXPECT_EQ(marked_text(example(kTwoTurnLine, t, true), *tok_), two_turn(t, true));
  }
  // In the tool-using conversation only the final answer stays a target.
  TokenizedExample ex = example(kChatLine, ChatTemplate::chatml, true);
  const std::string m = marked_text(ex, *tok_);
  EXPECT_EQ(m.find("«"), m.find("«It is 18C and sunny.<|im_end|>»")) << m;
  EXPECT_NE(m.find("«It is 18C and sunny.<|im_end|>»"), std::string::npos) << m;
}

TEST_F(LossMask, GenerationPromptEndsWithTheAssistantHeader) {
  const std::string path = path_join(temp_dir("mask-gen"), "g.jsonl");
  write_file_atomic(path, kTwoTurnLine + "\n");
  Conversation c = load_trajectories(path, "auto", "fail").at(0);
  c.messages.pop_back();
  const std::map<ChatTemplate, std::string> tail = {
      {ChatTemplate::chatml, "<|im_start|>assistant\n"},
      {ChatTemplate::qwen3, "<|im_start|>assistant\n<think>\n\n</think>\n\n"},
      {ChatTemplate::llama3, "<|start_header_id|>assistant<|end_header_id|>\n\n"},
      {ChatTemplate::gemma3, "<start_of_turn>model\n"},
      {ChatTemplate::plain, "Assistant:\n"}};
  for (const auto& kv : tail) {
    const std::string text = render_chat(c, kv.first, false, true).text();
    ASSERT_GE(text.size(), kv.second.size());
    EXPECT_EQ(text.substr(text.size() - kv.second.size()), kv.second) << chat_template_name(kv.first);
  }
}

TEST_F(LossMask, TruncationKeepsTheMaskAligned) {
  const std::string path = path_join(temp_dir("mask-trunc"), "t.jsonl");
  write_file_atomic(path, kTwoTurnLine + "\n");
  Conversation c = load_trajectories(path, "auto", "fail").at(0);
  RenderedChat r = render_chat(c, ChatTemplate::qwen3, false);
  TokenizedExample full = tokenize_chat(r, *tok_, 1 << 20, "x");
  for (int len : {1, 5, 40, static_cast<int>(full.ids.size())}) {
    TokenizedExample t = tokenize_chat(r, *tok_, len, "x");
    ASSERT_EQ(t.ids.size(), static_cast<size_t>(std::min<int>(len, static_cast<int>(full.ids.size()))));
    ASSERT_EQ(t.target.size(), t.ids.size());
    for (size_t i = 0; i < t.ids.size(); ++i) {
      EXPECT_EQ(t.ids[i], full.ids[i]);
      EXPECT_EQ(t.target[i], full.target[i]);
    }
  }
}

TEST_F(LossMask, NothingPredictsTheFirstToken) {
  RenderedChat r;
  r.segments.push_back({"Hello", true, false});  // trainable from the first byte
  TokenizedExample ex = tokenize_chat(r, *tok_, 100, "x");
  ASSERT_EQ(ex.ids.size(), 5u);
  EXPECT_EQ(ex.target, (std::vector<uint8_t>{0, 1, 1, 1, 1}));
  EXPECT_EQ(ex.num_targets(), 4);
}

}  // namespace
