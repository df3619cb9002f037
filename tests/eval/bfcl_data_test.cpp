// BFCL files end to end through the library: on the real leaderboard data in ../shared/data/bfcl,
// predictions written from each possible answer score 1.0 in every category and one mutation per
// example scores 0.0; a BFCL-format file and the equivalent chat JSONL score the same; loaders name
// the file and line of bad input.
#include <gtest/gtest.h>

#include <algorithm>

#include "edgetune/core/file_io.h"
#include "edgetune/eval/bfcl.h"
#include "edgetune/eval/python_calls.h"
#include "test_util.h"

namespace et {
namespace {

using ojson = nlohmann::ordered_json;
using et::test::error_of;

const char* const kCategories[] = {"simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"};

bool has_empty(const ojson& choices) {
  return std::any_of(choices.begin(), choices.end(), [](const ojson& c) { return c == ""; });
}
const ojson& first_choice(const ojson& choices) {
  for (const auto& c : choices)
    if (c != "") return c;
  return choices[0];
}

// An allowed value as a model writes it: an answer's dict gives each key its first allowed value
// (keys that may be left out are left out), in a list too.
ojson as_written(const ojson& allowed) {
  if (allowed.is_object()) {
    ojson out = ojson::object();
    for (auto it = allowed.begin(); it != allowed.end(); ++it)
      if (!has_empty(it.value())) out[it.key()] = first_choice(it.value());
    return out;
  }
  if (allowed.is_array()) {
    ojson out = ojson::array();
    for (const auto& x : allowed) out.push_back(x.is_object() ? as_written(x) : x);
    return out;
  }
  return allowed;
}

const ojson& function_doc(const BfclExample& e, const std::string& name) {
  for (const auto& f : e.functions)
    if (f["name"] == name) return f;
  throw std::runtime_error("no function " + name);
}

bool required(const ojson& f, const std::string& p) {
  const ojson& r = f["parameters"].value("required", ojson::array());
  return std::find(r.begin(), r.end(), ojson(p)) != r.end();
}

// The calls of the possible answer: first allowed value of each parameter, optional ones omitted.
std::vector<ToolCall> answer_calls(const BfclExample& e) {
  std::vector<ToolCall> calls;
  for (const auto& x : e.expected) {
    const ojson& f = function_doc(e, x.name);
    ToolCall c;
    c.name = x.name;
    for (auto it = x.allowed.begin(); it != x.allowed.end(); ++it)
      if (required(f, it.key()) || !has_empty(it.value())) c.arguments[it.key()] = as_written(first_choice(it.value()));
    calls.push_back(std::move(c));
  }
  return calls;
}

ojson json_list(const std::vector<ToolCall>& calls) {
  ojson a = ojson::array();
  for (const auto& c : calls) a.push_back({{"name", c.name}, {"arguments", c.arguments}});
  return a;
}

struct Loaded {
  std::string category;
  std::vector<BfclExample> examples;
};

std::vector<Loaded> load_shared(const std::string& dir) {
  std::vector<Loaded> out;
  for (const char* cat : kCategories) {
    const std::string q = path_join(dir, std::string("BFCL_v4_") + cat + ".json");
    const std::string a = path_join(dir, std::string("possible_answer/BFCL_v4_") + cat + ".json");
    out.push_back({cat, load_bfcl(q, file_exists(a) ? a : "")});
  }
  return out;
}

std::string failures(const BfclReport& r, size_t max = 5) {
  std::string s;
  for (const auto& x : r.results)
    if (!x.correct && max-- > 0) s += "\n  " + x.id + ": " + x.reason + "\n    " + x.text;
  return s;
}

TEST(BfclData, PossibleAnswersScoreOneInEveryCategory) {
  ET_REQUIRE_SHARED(dir, "data/bfcl/BFCL_v4_simple_python.json");
  for (const auto& [cat, examples] : load_shared(parent_path(dir))) {
    SCOPED_TRACE(cat);
    ASSERT_GE(examples.size(), 200u);
    for (const auto& e : examples) ASSERT_EQ(e.category, cat) << e.id;
    // Once as Python call strings, once as JSON lists; parallel calls in reverse order.
    for (bool python : {true, false}) {
      std::vector<BfclPrediction> preds;
      for (const auto& e : examples) {
        std::vector<ToolCall> calls = answer_calls(e);
        if (e.rule == BfclRule::any_order) std::reverse(calls.begin(), calls.end());
        ojson result = python ? ojson(python_calls_text(calls)) : json_list(calls);
        if (e.rule == BfclRule::no_call) result = python ? ojson("I cannot help with that.") : ojson::array();
        preds.push_back({e.id, result, "test"});
      }
      const BfclReport r = score_bfcl_predictions(examples, preds);
      const ojson s = r.summary();
      EXPECT_EQ(s["examples"], examples.size());
      EXPECT_DOUBLE_EQ(s["accuracy"].get<double>(), 1.0) << (python ? "python" : "json") << failures(r);
      EXPECT_DOUBLE_EQ(s["categories"][cat]["accuracy"].get<double>(), 1.0);
      // Answers that name variables ("data['sales']" for an array) are not schema-valid calls.
      EXPECT_GT(s["valid_rate"].get<double>(), 0.98);
      for (auto it = s["functions"].begin(); it != s["functions"].end(); ++it)
        EXPECT_EQ(it.value()["matched"], it.value()["calls"]) << it.key();
    }
  }
}

// A value of another type than the schema's (and than the answer's).
ojson wrong_type_value(const ojson& schema) {
  return schema.value("type", "") == "string" ? ojson(12345) : ojson("zz");
}

TEST(BfclData, OneMutationPerExampleScoresZero) {
  ET_REQUIRE_SHARED(dir, "data/bfcl/BFCL_v4_simple_python.json");
  for (const auto& [cat, examples] : load_shared(parent_path(dir))) {
    SCOPED_TRACE(cat);
    std::vector<BfclPrediction> preds;
    std::vector<std::string> want;  // what the reason must name
    for (size_t i = 0; i < examples.size(); ++i) {
      const BfclExample& e = examples[i];
      std::vector<ToolCall> calls = answer_calls(e);
      if (e.rule == BfclRule::no_call) {  // a call where none is expected
        ToolCall c;
        c.name = e.functions[0]["name"].get<std::string>();
        calls = {c};
        want.push_back("where no call is expected");
      } else {
        ToolCall& c = calls[i % calls.size()];
        const ojson& f = function_doc(e, c.name);
        const ojson& req = f["parameters"].value("required", ojson::array());
        if (i % 2 == 0 || req.empty()) {
          c.name += "_renamed";
          want.push_back("_renamed");
        } else {
          const std::string p = req[0].get<std::string>();
          c.arguments[p] = wrong_type_value(f["parameters"]["properties"][p]);
          want.push_back(p);
        }
      }
      preds.push_back({e.id, python_calls_text(calls), "test"});
    }
    const BfclReport r = score_bfcl_predictions(examples, preds);
    EXPECT_DOUBLE_EQ(r.summary()["accuracy"].get<double>(), 0.0);
    for (size_t i = 0; i < r.results.size(); ++i) {
      EXPECT_FALSE(r.results[i].correct) << r.results[i].id;
      if (examples[i].rule == BfclRule::ordered) {  // in any order the reason names the closest call instead
        EXPECT_NE(r.results[i].reason.find(want[i]), std::string::npos)
            << r.results[i].id << ": " << r.results[i].reason;
      }
    }
  }
}

// --- A BFCL-format file and the equivalent chat JSONL --------------------------------------------

const char* kWeather = R"({"name": "get_weather", "description": "weather in a city", "parameters": {"type": "dict",
  "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}, "required": ["city"]}})";
const char* kAdd = R"({"name": "math.add", "description": "a + b", "parameters": {"type": "dict",
  "properties": {"a": {"type": "float"}, "b": {"type": "float"}}, "required": ["a", "b"]}})";
const char* kTags = R"({"name": "set_tags", "description": "tag a note", "parameters": {"type": "dict",
  "properties": {"tags": {"type": "array", "items": {"type": "string"}}, "meta": {"type": "dict",
  "properties": {"k": {"type": "string"}}}}, "required": ["tags"]}})";

struct Case {
  std::string id, question;
  std::vector<const char*> functions;
  std::vector<ToolCall> calls;  // the expected calls
};

ToolCall tc(const std::string& name, const std::string& args) {
  ToolCall c;
  c.name = name;
  c.arguments = ojson::parse(args);
  return c;
}

std::vector<Case> cases() {
  return {{"simple_0", "Weather in Paris?", {kWeather}, {tc("get_weather", R"({"city": "Paris"})")}},
          {"multiple_0", "What is 1.5 + 2?", {kWeather, kAdd}, {tc("math.add", R"({"a": 1.5, "b": 2.0})")}},
          {"parallel_0",
           "Weather in Paris and in Oslo, in celsius?",
           {kWeather},
           {tc("get_weather", R"({"city": "Paris", "unit": "celsius"})"),
            tc("get_weather", R"({"city": "Oslo", "unit": "celsius"})")}},
          {"parallel_multiple_0",
           "Tag it x and y with k=v, and the weather in Rome.",
           {kWeather, kTags},
           {tc("set_tags", R"({"tags": ["x", "y"], "meta": {"k": "v"}})"), tc("get_weather", R"({"city": "Rome"})")}},
          {"irrelevance_0", "Who wrote Hamlet?", {kAdd}, {}}};
}

// The answer's form of an argument: a dict maps each key to the list of its allowed values.
ojson allowed_form(const ojson& v) {
  if (!v.is_object()) return v;
  ojson out = ojson::object();
  for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = ojson::array({it.value()});
  return out;
}

// Writes the cases as BFCL questions + possible answers, and as chat JSONL (OpenAI-style tools in
// JSON-schema words); returns {questions, answers, chat}.
std::array<std::string, 3> write_cases(const std::string& dir, bool chat_ids) {
  std::string q, a, chat;
  for (const auto& c : cases()) {
    ojson fs = ojson::array(), tools = ojson::array();
    for (const char* f : c.functions) {
      fs.push_back(ojson::parse(f));
      ojson g = ojson::parse(f);
      g["parameters"]["type"] = "object";
      for (auto it = g["parameters"]["properties"].begin(); it != g["parameters"]["properties"].end(); ++it) {
        if (it.value()["type"] == "float") it.value()["type"] = "number";
        if (it.value()["type"] == "dict") it.value()["type"] = "object";
      }
      tools.push_back({{"type", "function"}, {"function", g}});
    }
    ojson question = ojson::array({ojson::array({{{"role", "user"}, {"content", c.question}}})});
    q += ojson{{"id", c.id}, {"question", question}, {"function", fs}}.dump() + "\n";
    ojson gt = ojson::array(), tool_calls = ojson::array();
    for (const auto& call : c.calls) {
      ojson params = ojson::object();
      for (auto it = call.arguments.begin(); it != call.arguments.end(); ++it)
        params[it.key()] = ojson::array({allowed_form(it.value())});
      gt.push_back({{call.name, params}});
      tool_calls.push_back({{"function", {{"name", call.name}, {"arguments", call.arguments}}}});
    }
    if (!c.calls.empty()) a += ojson{{"id", c.id}, {"ground_truth", gt}}.dump() + "\n";
    ojson assistant{{"role", "assistant"},
                    {"content", c.calls.empty() ? "I cannot answer that with these tools." : ""}};
    if (!c.calls.empty()) assistant["tool_calls"] = tool_calls;
    ojson line = ojson::object();
    if (chat_ids) line["id"] = c.id;
    line["tools"] = tools;
    line["messages"] = ojson::array({{{"role", "user"}, {"content", c.question}},
                                     assistant,
                                     {{"role", "tool"}, {"content", "ok"}},
                                     {{"role", "assistant"}, {"content", "Done."}}});
    chat += line.dump() + "\n";
  }
  const std::array<std::string, 3> paths{path_join(dir, "BFCL_v4_mixed.json"),
                                         path_join(dir, "possible_answer_BFCL_v4_mixed.json"),
                                         path_join(dir, "mixed.jsonl")};
  write_file_atomic(paths[0], q);
  write_file_atomic(paths[1], a);
  write_file_atomic(paths[2], chat);
  return paths;
}

TEST(BfclData, ChatJsonlScoresLikeTheBfclFiles) {
  const std::string dir = et::test::temp_dir("bfcl_chat");
  const auto [questions, answers, chat] = write_cases(dir, true);
  const std::vector<BfclExample> from_bfcl = load_bfcl(questions, answers);
  const std::vector<BfclExample> from_chat = load_bfcl(chat, "");
  ASSERT_EQ(from_bfcl.size(), 5u);
  ASSERT_EQ(from_chat.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(from_chat[i].id, from_bfcl[i].id);
    EXPECT_EQ(from_chat[i].category, from_bfcl[i].category);
    EXPECT_EQ(from_chat[i].rule, from_bfcl[i].rule);
    EXPECT_EQ(from_chat[i].expected.size(), from_bfcl[i].expected.size());
    ASSERT_EQ(from_chat[i].question.size(), 1u);
    EXPECT_EQ(from_chat[i].question[0].content, from_bfcl[i].question[0].content);
  }
  // Outputs right, wrong in each way, and neither; the same verdicts and reasons from both files.
  const std::vector<std::vector<std::string>> outputs = {
      {"[get_weather(city='paris')]", "[math.add(a=1.5, b=2)]",
       "[get_weather(city='Oslo', unit='Celsius'), get_weather(city='PARIS', unit='celsius')]",
       R"([{"name": "get_weather", "arguments": {"city": "rome"}}, {"name": "set_tags", "arguments": "{\"tags\": [\"X\", \"y\"], \"meta\": {\"k\": \"V\"}}"}])",
       "Shakespeare."},
      {"[get_weather(city=5)]", "[math.add(a=1.5)]", "[get_weather(city='Paris', unit='celsius')]",
       "[set_tags(tags=['x', 'y'], meta={'k': 'w'}), get_weather(city='Rome')]", "[math.add(a=1, b=2)]"},
      {"Paris is sunny.", "[math.add(a=1.5, b=2.0",
       "[get_weather(city='Paris', unit='celsius', days=2), get_weather(city='Oslo', unit='celsius')]",
       "[set_tags(tags=['y', 'x'], meta={'k': 'v'}), get_weather(city='Rome')]", "[math.add(a=1, b=2"},
      {"[get_weather(city='Lyon')]", "[get_weather(city='Paris')]", "[]",
       "[get_weather(city='Rome'), set_tags(tags=['x', 'y'])]", "[]"}};
  const std::vector<double> accuracy = {1.0, 0.0, 0.2, 0.2};
  for (size_t k = 0; k < outputs.size(); ++k) {
    SCOPED_TRACE(k);
    std::vector<BfclPrediction> preds;
    for (size_t i = 0; i < 5; ++i) preds.push_back({from_bfcl[i].id, outputs[k][i], "test"});
    const BfclReport a = score_bfcl_predictions(from_bfcl, preds), b = score_bfcl_predictions(from_chat, preds);
    for (size_t i = 0; i < 5; ++i) {
      EXPECT_EQ(a.results[i].correct, b.results[i].correct) << a.results[i].id;
      EXPECT_EQ(a.results[i].valid, b.results[i].valid) << a.results[i].id;
      EXPECT_EQ(a.results[i].reason, b.results[i].reason) << a.results[i].id;
    }
    ojson sa = a.summary(), sb = b.summary();
    sa.erase("seconds");
    sb.erase("seconds");
    EXPECT_EQ(sa, sb);
    EXPECT_DOUBLE_EQ(sa["accuracy"].get<double>(), accuracy[k]) << failures(a);
  }
  // Without ids the chat examples take their categories from their calls.
  const auto no_ids = write_cases(et::test::temp_dir("bfcl_chat_noid"), false);
  const auto derived = load_bfcl_chat(no_ids[2]);
  std::vector<std::string> cats;
  for (const auto& e : derived) cats.push_back(e.category);
  EXPECT_EQ(cats, (std::vector<std::string>{"simple", "multiple", "parallel", "parallel_multiple", "irrelevance"}));
  EXPECT_EQ(derived[0].id, no_ids[2] + ":1");
}

TEST(BfclData, CategoriesFromIdsAndFileNames) {
  EXPECT_EQ(bfcl_category("simple_python_12", ""), "simple_python");
  EXPECT_EQ(bfcl_category("parallel_multiple_0", "x.json"), "parallel_multiple");
  EXPECT_EQ(bfcl_category("live_simple_0-0-0", ""), "live_simple");
  EXPECT_EQ(bfcl_category("q7", "/data/BFCL_v4_irrelevance.json"), "irrelevance");
  EXPECT_EQ(bfcl_category("q7", "/data/BFCL_v3_live_multiple.json"), "live_multiple");
  EXPECT_EQ(bfcl_category("q7", "/data/questions.json"), "");
}

TEST(BfclData, BadFilesNameTheFileAndLine) {
  const std::string dir = et::test::temp_dir("bfcl_bad");
  const auto [questions, answers, chat] = write_cases(dir, true);
  const std::string bad = path_join(dir, "bad_answers.json");
  write_file_atomic(bad,
                    "{\"id\": \"simple_0\", \"ground_truth\": [{\"get_weather\": {\"city\": [\"Paris\"]}}]}\n\n"
                    "{\"id\": \"multiple_0\", \"ground_truth\": {\"math.add\": {}}}\n");
  std::string e = error_of([&] { load_bfcl(questions, bad); });
  EXPECT_NE(e.find("[bfcl] " + bad + ":3: ground_truth is not a list"), std::string::npos) << e;
  write_file_atomic(bad, "{\"id\": \"simple_0\", \"ground_truth\": [{\"get_weather\": {\"city\": \"Paris\"}}]}\n");
  e = error_of([&] { load_bfcl(questions, bad); });
  EXPECT_NE(e.find(bad + ":1: the allowed values of 'city' in 'get_weather' are not a list"), std::string::npos) << e;
  write_file_atomic(bad, "{\"id\": \"simple_0\", \"ground_truth\": [{\"get_time\": {}}]}\n");
  e = error_of([&] { load_bfcl(questions, bad); });
  EXPECT_NE(e.find("calls 'get_time', which the question"), std::string::npos) << e;
  write_file_atomic(bad, "{\"id\": \"simple_0\", \"ground_truth\": [{\"get_weather\": {\"city\": [\"Paris\"]}}]}\n");
  e = error_of([&] { load_bfcl(questions, bad); });
  EXPECT_NE(e.find(bad + ": no possible answer for 'multiple_0' (" + questions + ":2)"), std::string::npos) << e;
  e = error_of([&] { load_bfcl(questions, ""); });
  EXPECT_NE(e.find(questions + ":1: 'simple_0' (category simple) needs its possible answers (--answers"),
            std::string::npos)
      << e;
  const std::string q = path_join(dir, "BFCL_v4_broken.json");
  write_file_atomic(
      q,
      "{\"id\": \"broken_0\", \"question\": [[{\"role\": \"user\", \"content\": \"x\"}]], \"function\": []}\n"
      "{\"question\": []}\n");
  e = error_of([&] { load_bfcl(q, ""); });
  EXPECT_NE(e.find(q + ":2: no \"id\""), std::string::npos) << e;
  write_file_atomic(
      q,
      "{\"id\": \"irrelevance_0\", \"question\": [[{\"role\": \"pilot\", \"content\": \"x\"}]], \"function\": []}\n");
  e = error_of([&] { load_bfcl(q, ""); });
  EXPECT_NE(e.find(q + ":1: unknown role 'pilot'"), std::string::npos) << e;
  // Predictions: a line that is not JSON, a missing result, a repeated id, an unknown id.
  const std::string p = path_join(dir, "pred.jsonl");
  write_file_atomic(p, "{\"id\": \"simple_0\", \"result\": \"[]\"}\n{\"id\": \"multiple_0\", \"result\": \n");
  e = error_of([&] { load_bfcl_predictions(p); });
  EXPECT_NE(e.find("[bfcl] " + p + ":2: not valid JSON"), std::string::npos) << e;
  write_file_atomic(p, "{\"id\": \"simple_0\"}\n");
  e = error_of([&] { load_bfcl_predictions(p); });
  EXPECT_NE(e.find(p + ":1: no \"result\""), std::string::npos) << e;
  write_file_atomic(p, "{\"id\": \"simple_0\", \"result\": \"[]\"}\n{\"id\": \"simple_0\", \"result\": \"[]\"}\n");
  e = error_of([&] { load_bfcl_predictions(p); });
  EXPECT_NE(e.find(p + ":2: a second prediction for 'simple_0' (the first at " + p + ":1)"), std::string::npos) << e;
  write_file_atomic(p, "{\"id\": \"simple_9\", \"result\": \"[]\"}\n");
  const auto examples = load_bfcl(questions, answers);
  e = error_of([&] { score_bfcl_predictions(examples, load_bfcl_predictions(p)); });
  EXPECT_NE(e.find(p + ":1: 'simple_9' is not among the questions"), std::string::npos) << e;
  // A question without a prediction is wrong and counted.
  write_file_atomic(p, "{\"id\": \"simple_0\", \"result\": \"[get_weather(city='Paris')]\"}\n");
  const BfclReport r = score_bfcl_predictions(examples, load_bfcl_predictions(p));
  EXPECT_EQ(r.missing, 4);
  EXPECT_DOUBLE_EQ(r.summary()["accuracy"].get<double>(), 0.2);
  EXPECT_EQ(r.results[1].reason, "no prediction");
}

}  // namespace
}  // namespace et
