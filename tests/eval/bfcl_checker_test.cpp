// The BFCL AST rules, one test per rule, on hand-made function docs and answers in the
// leaderboard's own format; expected verdicts worked out from the rules (bfcl.h).
#include <gtest/gtest.h>

#include "edgetune/eval/bfcl.h"

namespace et {
namespace {

using ojson = nlohmann::ordered_json;

const ojson kArea = ojson::parse(R"({
  "name": "geometry.area", "description": "area of a shape",
  "parameters": {"type": "dict", "required": ["base", "height"], "properties": {
    "base": {"type": "integer"}, "height": {"type": "float"}, "unit": {"type": "string"},
    "exact": {"type": "boolean"}, "dims": {"type": "array", "items": {"type": "float"}},
    "tags": {"type": "array", "items": {"type": "string"}},
    "point": {"type": "tuple", "items": {"type": "float"}},
    "style": {"type": "dict", "properties": {"color": {"type": "string"}, "width": {"type": "integer"}}},
    "rows": {"type": "array", "items": {"type": "dict"}},
    "anything": {"type": "any"}}}})");

ToolCall parsed_call(const std::string& name, const std::string& args) {
  ToolCall c;
  c.name = name;
  c.arguments = ojson::parse(args);
  return c;
}

BfclExpectedCall expect(const std::string& name, const std::string& allowed) {
  BfclExpectedCall e;
  e.name = name;
  e.allowed = ojson::parse(allowed);
  return e;
}

// The answer: base 10, height 5.0, unit "units" or omitted, plus whatever a test adds.
BfclExpectedCall area_answer(const std::string& more = "") {
  return expect("geometry.area",
                R"({"base": [10], "height": [5.0], "unit": ["units", ""])" + (more.empty() ? "" : ", " + more) + "}");
}

std::string mismatch(const std::string& args, const BfclExpectedCall& e = area_answer()) {
  return bfcl_call_mismatch(kArea, parsed_call("geometry.area", args), e);
}

TEST(BfclChecker, FunctionName) {
  const std::string why =
      bfcl_call_mismatch(kArea, parsed_call("geometry.volume", R"({"base": 10, "height": 5.0})"), area_answer());
  EXPECT_NE(why.find("called 'geometry.volume', expected 'geometry.area'"), std::string::npos) << why;
  EXPECT_EQ(mismatch(R"({"base": 10, "height": 5.0})"), "");
}

TEST(BfclChecker, WrongType) {
  EXPECT_NE(mismatch(R"({"base": "10", "height": 5.0})").find("'base' should be an integer, got string"),
            std::string::npos);
  EXPECT_NE(mismatch(R"({"base": 10.0, "height": 5.0})").find("'base' should be an integer, got float"),
            std::string::npos);
  EXPECT_NE(mismatch(R"({"base": true, "height": 5.0})").find("'base' should be an integer, got boolean"),
            std::string::npos);
  EXPECT_NE(mismatch(R"({"base": 10, "height": "5"})").find("'height' should be a float"), std::string::npos);
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0, "unit": 3})").find("'unit' should be a string"), std::string::npos);
  const auto e = area_answer(R"("exact": [true])");
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0, "exact": 1})", e).find("'exact' should be a boolean"),
            std::string::npos);
  EXPECT_EQ(mismatch(R"({"base": 10, "height": 5.0, "exact": true})", e), "");
  // Item types: a string in a list of floats.
  const auto d = area_answer(R"("dims": [[1.5, 2.0]])");
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0, "dims": [1.5, "2"]})", d).find("'dims[1]' should be a float"),
            std::string::npos);
  // A dict's declared properties have their types.
  const auto s = area_answer(R"("style": [{"color": ["red"], "width": [2]}])");
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0, "style": {"color": "red", "width": "2"}})", s)
                .find("'style.width' should be an integer"),
            std::string::npos);
}

TEST(BfclChecker, IntegerAcceptedForFloat) {
  EXPECT_EQ(mismatch(R"({"base": 10, "height": 5})"), "");
  // ... also inside lists and tuples, and compared by value (2 == 2.0).
  const auto d = area_answer(R"("dims": [[1.5, 2.0]], "point": [[3.0, 4.0]])");
  EXPECT_EQ(mismatch(R"({"base": 10, "height": 5, "dims": [1.5, 2], "point": [3, 4]})", d), "");
  // Not the other way round.
  EXPECT_NE(mismatch(R"({"base": 10.0, "height": 5})"), "");
}

TEST(BfclChecker, MissingRequired) {
  EXPECT_NE(mismatch(R"({"height": 5.0})").find("missing required parameter 'base'"), std::string::npos);
  EXPECT_NE(mismatch(R"({"base": 10, "unit": "units"})").find("missing required parameter 'height'"),
            std::string::npos);
}

TEST(BfclChecker, UnknownParameter) {
  // Not in the schema at all.
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0, "color": "red"})").find("unexpected parameter 'color'"),
            std::string::npos);
  // In the schema but not in the answer: the answer says it should not be given.
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0, "exact": false})").find("unexpected parameter 'exact'"),
            std::string::npos);
}

TEST(BfclChecker, OptionalOmitted) {
  // "" among the allowed values: the parameter may be left out, or given with an allowed value.
  EXPECT_EQ(mismatch(R"({"base": 10, "height": 5.0})"), "");
  EXPECT_EQ(mismatch(R"({"base": 10, "height": 5.0, "unit": "units"})"), "");
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0, "unit": "meters"})").find("'unit': \"meters\" is not among"),
            std::string::npos);
  // Without "", an answer's parameter must be given even when the schema does not require it.
  const auto e = expect("geometry.area", R"({"base": [10], "height": [5.0], "unit": ["units"]})");
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0})", e).find("parameter 'unit' is not given"), std::string::npos);
}

TEST(BfclChecker, NormalizedStringMatch) {
  EXPECT_EQ(bfcl_normalize("April 1, 2024"), "april12024");
  EXPECT_EQ(bfcl_normalize("a-b_c.d/e*f^g"), "abcdefg");
  EXPECT_EQ(bfcl_normalize("It's"), "it\"s");
  const auto e = expect("geometry.area", R"({"base": [10], "height": [5.0], "unit": ["Square Meters", "it's"]})");
  for (const char* ok : {"square meters", "SQUARE-METERS", "square_meters.", "Square/Meters*", "it\"s", "IT'S"})
    EXPECT_EQ(mismatch(std::string(R"({"base": 10, "height": 5.0, "unit": )") + ojson(ok).dump() + "}", e), "") << ok;
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0, "unit": "square meter"})", e), "");
  // Strings inside lists and dicts are normalized too.
  const auto t = area_answer(R"("tags": [["New York", "San Francisco"]])");
  EXPECT_EQ(mismatch(R"({"base": 10, "height": 5.0, "tags": ["new york", "san-francisco"]})", t), "");
}

TEST(BfclChecker, ListAndDictValues) {
  // Lists: element by element, in order, with the same length.
  const auto t = area_answer(R"("tags": [["a", "b"], ["c"]])");
  EXPECT_EQ(mismatch(R"({"base": 10, "height": 5.0, "tags": ["a", "b"]})", t), "");
  EXPECT_EQ(mismatch(R"({"base": 10, "height": 5.0, "tags": ["C"]})", t), "");
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0, "tags": ["b", "a"]})", t), "");
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0, "tags": ["a"]})", t), "");
  // Dicts: each key's value among that key's allowed values; no unknown key; "" makes a key optional.
  const auto s = area_answer(R"("style": [{"color": ["Dark Red", "red"], "width": [2, ""]}])");
  EXPECT_EQ(mismatch(R"({"base": 10, "height": 5.0, "style": {"color": "dark-red", "width": 2}})", s), "");
  EXPECT_EQ(mismatch(R"({"base": 10, "height": 5.0, "style": {"color": "red"}})", s), "");
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0, "style": {"color": "blue"}})", s), "");
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0, "style": {"width": 2}})", s), "");  // color is not optional
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0, "style": {"color": "red", "width": 2, "x": 1}})", s), "");
  // A list of dicts: each dict in the answer's form, in order; deeper values as written.
  const auto r = area_answer(R"("rows": [[{"k": ["a"], "v": [[1, 2]]}, {"k": ["b"], "v": [{"deep": "X Y"}]}]])");
  EXPECT_EQ(
      mismatch(R"({"base": 10, "height": 5.0, "rows": [{"k": "A", "v": [1, 2.0]}, {"k": "b", "v": {"deep": "x-y"}}]})",
               r),
      "");
  EXPECT_NE(
      mismatch(R"({"base": 10, "height": 5.0, "rows": [{"k": "b", "v": {"deep": "x y"}}, {"k": "a", "v": [1, 2]}]})",
               r),
      "");
  EXPECT_NE(
      mismatch(R"({"base": 10, "height": 5.0, "rows": [{"k": "a", "v": [1, 2]}, {"k": "b", "v": {"deep": "z"}}]})", r),
      "");
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0, "rows": [{"k": "a", "v": [1, 2]}]})", r), "");
}

TEST(BfclChecker, VariablesAndAny) {
  // An answer whose values do not have the schema's type names a variable: that text is expected.
  const auto v = area_answer(R"("dims": ["data['sales']"])");
  EXPECT_EQ(mismatch(R"({"base": 10, "height": 5.0, "dims": "data['sales']"})", v), "");
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0, "dims": "data[\"sales\"]"})", v), "");  // compared as written
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0, "dims": 3})", v).find("should be a list"), std::string::npos);
  // "any" takes any type; the value must still be an allowed one.
  const auto a = area_answer(R"("anything": ["my_data", [1, 2]])");
  EXPECT_EQ(mismatch(R"({"base": 10, "height": 5.0, "anything": "My-Data"})", a), "");
  EXPECT_EQ(mismatch(R"({"base": 10, "height": 5.0, "anything": [1, 2]})", a), "");
  EXPECT_NE(mismatch(R"({"base": 10, "height": 5.0, "anything": 7})", a), "");
}

BfclExample example(BfclRule rule, std::vector<BfclExpectedCall> expected) {
  BfclExample e;
  e.id = "t_0";
  e.category = rule == BfclRule::no_call ? "irrelevance" : rule == BfclRule::any_order ? "parallel" : "simple";
  e.rule = rule;
  e.functions = ojson::array({kArea});
  e.expected = std::move(expected);
  return e;
}

BfclOutput calls_out(std::vector<ToolCall> calls) {
  BfclOutput o;
  o.calls = std::move(calls);
  return o;
}

TEST(BfclChecker, ParallelCallsInAnotherOrder) {
  const auto e10 = expect("geometry.area", R"({"base": [10], "height": [5.0]})");
  const auto e20 = expect("geometry.area", R"({"base": [20], "height": [5.0]})");
  const ToolCall c10 = parsed_call("geometry.area", R"({"base": 10, "height": 5.0})");
  const ToolCall c20 = parsed_call("geometry.area", R"({"base": 20, "height": 5})");
  BfclResult r = score_bfcl(example(BfclRule::any_order, {e10, e20}), calls_out({c20, c10}));
  EXPECT_TRUE(r.correct) << r.reason;
  EXPECT_TRUE(r.valid);
  EXPECT_EQ(r.matched, (std::vector<bool>{true, true}));
  // In order only, the same calls fail at the first.
  r = score_bfcl(example(BfclRule::ordered, {e10, e20}), calls_out({c20, c10}));
  EXPECT_FALSE(r.correct);
  EXPECT_NE(r.reason.find("expected call 1"), std::string::npos) << r.reason;
  // A one-to-one assignment: the first expected call takes 10 or 20, the second only 10; taking
  // the first output call that fits (10) for the first would leave nothing for the second.
  const auto either = expect("geometry.area", R"({"base": [10, 20], "height": [5.0]})");
  r = score_bfcl(example(BfclRule::any_order, {either, e10}), calls_out({c10, c20}));
  EXPECT_TRUE(r.correct) << r.reason;
  // The same call twice does not stand for two expected calls.
  r = score_bfcl(example(BfclRule::any_order, {e10, e20}), calls_out({c10, c10}));
  EXPECT_FALSE(r.correct);
  EXPECT_EQ(r.matched, (std::vector<bool>{true, false}));
  EXPECT_NE(r.reason.find("expected call 2 ('geometry.area') not matched"), std::string::npos) << r.reason;
}

TEST(BfclChecker, WrongNumberOfCalls) {
  const auto e10 = expect("geometry.area", R"({"base": [10], "height": [5.0]})");
  const ToolCall c10 = parsed_call("geometry.area", R"({"base": 10, "height": 5.0})");
  for (BfclRule rule : {BfclRule::ordered, BfclRule::any_order}) {
    BfclResult r = score_bfcl(example(rule, {e10}), calls_out({c10, c10}));
    EXPECT_FALSE(r.correct);
    EXPECT_TRUE(r.valid);
    EXPECT_NE(r.reason.find("wrong number of calls: 2 calls, expected 1"), std::string::npos) << r.reason;
    r = score_bfcl(example(rule, {e10}), calls_out({}));
    EXPECT_FALSE(r.correct);
    EXPECT_TRUE(r.valid);  // no call is a well-formed answer, just not the right one
    EXPECT_NE(r.reason.find("wrong number of calls: 0 calls"), std::string::npos) << r.reason;
    r = score_bfcl(example(rule, {e10, e10}), calls_out({c10}));
    EXPECT_FALSE(r.correct);
  }
}

TEST(BfclChecker, IrrelevanceIsCorrectWithoutACall) {
  const BfclExample e = example(BfclRule::no_call, {});
  BfclResult r = score_bfcl(e, parse_bfcl_output("I cannot compute that with these tools."));
  EXPECT_TRUE(r.correct);
  EXPECT_TRUE(r.valid);
  EXPECT_EQ(r.reason, "");
  r = score_bfcl(e, parse_bfcl_output("[]"));
  EXPECT_TRUE(r.correct);
  r = score_bfcl(e, parse_bfcl_output("[geometry.area(base=1, height=2.0)]"));
  EXPECT_FALSE(r.correct);
  EXPECT_TRUE(r.valid);
  EXPECT_NE(r.reason.find("called 'geometry.area' where no call is expected"), std::string::npos) << r.reason;
  // Output that does not parse makes no call: correct there (as on the leaderboard), not valid.
  r = score_bfcl(e, parse_bfcl_output("[geometry.area(base=1"));
  EXPECT_TRUE(r.correct);
  EXPECT_FALSE(r.valid);
  EXPECT_NE(r.reason.find("does not parse"), std::string::npos) << r.reason;
  EXPECT_EQ(bfcl_rule_for_category("live_irrelevance"), BfclRule::no_call);
  EXPECT_EQ(bfcl_rule_for_category("parallel_multiple"), BfclRule::any_order);
  EXPECT_EQ(bfcl_rule_for_category("multiple"), BfclRule::ordered);
}

TEST(BfclChecker, ValidityAgainstTheOfferedSchemas) {
  const auto e10 = expect("geometry.area", R"({"base": [10], "height": [5.0]})");
  const BfclExample e = example(BfclRule::ordered, {e10});
  // Right form, wrong value: valid, not correct.
  BfclResult r = score_bfcl(e, calls_out({parsed_call("geometry.area", R"({"base": 11, "height": 5.0})")}));
  EXPECT_TRUE(r.valid);
  EXPECT_FALSE(r.correct);
  // Not an offered function, a missing required parameter, an unknown one, a wrong type: invalid.
  for (const auto& c : {parsed_call("area", R"({"base": 10, "height": 5.0})"), parsed_call("geometry.area", R"({"base": 10})"),
                        parsed_call("geometry.area", R"({"base": 10, "height": 5.0, "z": 1})"),
                        parsed_call("geometry.area", R"({"base": [10], "height": 5.0})")}) {
    r = score_bfcl(e, calls_out({c}));
    EXPECT_FALSE(r.valid) << c.name << " " << c.arguments.dump();
    EXPECT_FALSE(r.correct);
  }
  EXPECT_NE(bfcl_schema_error(e.functions, parsed_call("area", "{}")).find("'area' is not an offered function"),
            std::string::npos);
  // Enums count for validity at any depth (numbers by value), not for correctness.
  const ojson fns = ojson::parse(R"([{"name": "go", "parameters": {"type": "dict", "properties": {
      "mode": {"type": "string", "enum": ["walk", "bus"]}, "level": {"type": "integer", "enum": [1, 2]},
      "stops": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}}, "required": []}}])");
  EXPECT_EQ(bfcl_schema_error(fns, parsed_call("go", R"({"mode": "bus", "level": 2, "stops": ["b", "a"]})")), "");
  EXPECT_NE(bfcl_schema_error(fns, parsed_call("go", R"({"mode": "car"})")).find("'mode' should be one of"),
            std::string::npos);
  EXPECT_NE(bfcl_schema_error(fns, parsed_call("go", R"({"level": 3})")).find("'level'"), std::string::npos);
  EXPECT_NE(bfcl_schema_error(fns, parsed_call("go", R"({"stops": ["a", "c"]})")).find("'stops[1]'"), std::string::npos);
  // Output meant as calls that does not parse: invalid and not correct, with the parser's reason.
  r = score_bfcl(e, parse_bfcl_output("[geometry.area(base=10, height=5.0"));
  EXPECT_FALSE(r.valid);
  EXPECT_FALSE(r.correct);
  EXPECT_NE(r.reason.find("[python_calls] column"), std::string::npos) << r.reason;
}

TEST(BfclChecker, OutputForms) {
  const std::string want = R"([{"name": "f", "arguments": {"a": 1, "b": "x"}}])";
  for (const std::string& text :
       {std::string("[f(a=1, b='x')]"), std::string("f(a=1, b=\"x\")"), want,
        std::string(R"([{"name": "f", "arguments": "{\"a\": 1, \"b\": \"x\"}"}])"),
        std::string(R"({"name": "f", "parameters": {"a": 1, "b": "x"}})"),
        std::string(R"([{"type": "function", "function": {"name": "f", "arguments": {"a": 1, "b": "x"}}}])"),
        std::string(R"([{"f": {"a": 1, "b": "x"}}])"), std::string(R"([{"f": "{\"a\": 1, \"b\": \"x\"}"}])"),
        std::string("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1, \"b\": \"x\"}}\n</tool_call>"),
        std::string("Thought: t\nAction: f\nAction Input: {\"a\": 1, \"b\": \"x\"}"),
        std::string("```json\n") + want + "\n```"}) {
    const BfclOutput o = parse_bfcl_output(text);
    EXPECT_FALSE(o.malformed) << text << ": " << o.error;
    ASSERT_EQ(o.calls.size(), 1u) << text;
    EXPECT_EQ(o.calls[0].name, "f") << text;
    EXPECT_EQ(o.calls[0].arguments, ojson::parse(R"({"a": 1, "b": "x"})")) << text;
  }
  // The result as JSON itself rather than a string.
  const BfclOutput j = parse_bfcl_result(ojson::parse(want));
  ASSERT_EQ(j.calls.size(), 1u);
  EXPECT_EQ(j.calls[0].name, "f");
  // Prose and JSON that is no call: no call, well-formed.
  for (const char* text : {"The answer is 42.", "{\"note\": 1, \"x\": 2}", "42", ""}) {
    const BfclOutput o = parse_bfcl_output(text);
    EXPECT_FALSE(o.malformed) << text;
    EXPECT_TRUE(o.calls.empty()) << text;
  }
  // Meant as calls, broken: malformed.
  for (const char* text : {"[f(a=1", "[{\"name\": \"f\", \"arguments\": \"{bad\"}]", "[1, 2]",
                           "<tool_call>{\"name\": \"f\", \"arguments\": {</tool_call>", "f(1)"}) {
    const BfclOutput o = parse_bfcl_output(text);
    EXPECT_TRUE(o.malformed) << text;
    EXPECT_FALSE(o.error.empty()) << text;
  }
}

}  // namespace
}  // namespace et
