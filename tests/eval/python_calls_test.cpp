// Python call strings read into calls: hand-written sources against the values Python gives them
// (worked out by hand from the language reference), the errors, and writing back (what the writer
// produces reads back to the same values, for awkward strings too).
#include "edgetune/eval/python_calls.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace et {
namespace {

using ojson = nlohmann::ordered_json;
using et::test::error_of;

ojson lit(const std::string& s) { return parse_python_literal(s); }

TEST(PythonCalls, TheLeaderboardsExample) {
  const auto calls = parse_python_calls("[f(a=1, b='x'), g(c=[1,2], d={'k': 2.5})]");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].name, "f");
  EXPECT_EQ(calls[0].arguments, ojson::parse(R"({"a": 1, "b": "x"})"));
  EXPECT_TRUE(calls[0].arguments["a"].is_number_integer());
  EXPECT_EQ(calls[1].name, "g");
  EXPECT_EQ(calls[1].arguments, ojson::parse(R"({"c": [1, 2], "d": {"k": 2.5}})"));
  EXPECT_TRUE(calls[1].arguments["d"]["k"].is_number_float());
}

TEST(PythonCalls, FormsOfTheCallList) {
  // Dotted names, no brackets, several calls without brackets, trailing commas, fences, spaces.
  auto c = parse_python_calls("math.factorial(number=5)");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].name, "math.factorial");
  EXPECT_EQ(c[0].arguments["number"], 5);
  c = parse_python_calls("a.b.c(x=1), d(y=2,)");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].name, "a.b.c");
  EXPECT_EQ(c[1].arguments["y"], 2);
  c = parse_python_calls("```python\n[ f( x = 1 ,\n y=2 ) , ]\n```");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].arguments, ojson::parse(R"({"x": 1, "y": 2})"));
  EXPECT_TRUE(parse_python_calls("[]").empty());
  EXPECT_TRUE(parse_python_calls("  ").empty());
  c = parse_python_calls("[f()]");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_TRUE(c[0].arguments.empty());
}

TEST(PythonCalls, NumbersAsPythonReadsThem) {
  EXPECT_EQ(lit("-5"), -5);
  EXPECT_TRUE(lit("-5").is_number_integer());
  EXPECT_EQ(lit("- 2.5"), -2.5);
  EXPECT_EQ(lit("+3"), 3);
  EXPECT_EQ(lit("1e3"), 1000.0);
  EXPECT_TRUE(lit("1e3").is_number_float());  // an exponent makes a float
  EXPECT_TRUE(lit("2.0").is_number_float());
  EXPECT_EQ(lit(".5"), 0.5);
  EXPECT_EQ(lit("5."), 5.0);
  EXPECT_EQ(lit("1.5E-2"), 0.015);
  EXPECT_EQ(lit("1_000_000"), 1000000);
  EXPECT_EQ(lit("0x1F"), 31);
  EXPECT_EQ(lit("0o17"), 15);
  EXPECT_EQ(lit("0b101"), 5);
  EXPECT_EQ(lit("9223372036854775807"), INT64_MAX);
  EXPECT_NE(error_of([] { lit("9223372036854775808"); }).find("64 bits"), std::string::npos);
  EXPECT_NE(error_of([] { lit("1e999"); }).find("out of range"), std::string::npos);
  EXPECT_NE(error_of([] { lit("3j"); }).find("complex"), std::string::npos);
  EXPECT_NE(error_of([] { lit("-'a'"); }).find("not a number"), std::string::npos);
}

TEST(PythonCalls, StringsQuotesAndEscapes) {
  EXPECT_EQ(lit("'x'"), "x");
  EXPECT_EQ(lit("\"it's\""), "it's");
  EXPECT_EQ(lit(R"('it\'s')"), "it's");
  EXPECT_EQ(lit(R"("say \"hi\"")"), "say \"hi\"");
  EXPECT_EQ(lit(R"('a\nb\tc\\d')"), "a\nb\tc\\d");
  EXPECT_EQ(lit(R"('\x41\101\u00e9\U0001F600')"), "AA\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(lit(R"('\ud83d\ude00')"), "\xF0\x9F\x98\x80");  // a surrogate pair is one code point
  EXPECT_EQ(lit(R"('\d')"), "\\d");                         // unknown escapes keep the backslash
  EXPECT_EQ(lit(R"(r'\d+\'')"), "\\d+\\'");                 // raw: backslashes stay
  EXPECT_EQ(lit(R"(u'x')"), "x");
  EXPECT_EQ(lit("'''a\n'b'\n'''"), "a\n'b'\n");
  EXPECT_EQ(lit(R"("""x"y""")"), "x\"y");
  EXPECT_EQ(lit("'ab' \"cd\""), "abcd");           // adjacent literals join
  EXPECT_EQ(lit("'caf\xC3\xA9'"), "caf\xC3\xA9");  // UTF-8 passes through
  EXPECT_NE(error_of([] { lit("'abc"); }).find("unterminated"), std::string::npos);
  EXPECT_NE(error_of([] { lit("'a\nb'"); }).find("unterminated"), std::string::npos);
  EXPECT_NE(error_of([] { lit(R"('\x4')"); }).find("hex digits"), std::string::npos);
  EXPECT_NE(error_of([] { lit(R"('\ud83d')"); }).find("surrogate"), std::string::npos);
}

TEST(PythonCalls, ContainersConstantsAndNames) {
  EXPECT_EQ(lit("[True, False, None]"), ojson::parse("[true, false, null]"));
  EXPECT_EQ(lit("(1, 'a')"), ojson::parse(R"([1, "a"])"));  // a tuple is a JSON array
  EXPECT_EQ(lit("(1,)"), ojson::parse("[1]"));
  EXPECT_EQ(lit("()"), ojson::array());
  EXPECT_EQ(lit("(1)"), 1);  // parentheses, not a tuple
  EXPECT_EQ(lit("{}"), ojson::object());
  EXPECT_EQ(lit("{'a': [1, (2, 3)], \"b\": {'c': None},}"), ojson::parse(R"({"a": [1, [2, 3]], "b": {"c": null}})"));
  // Variables are kept as their text, as the leaderboard's decoder does.
  EXPECT_EQ(lit("my_data"), "my_data");
  EXPECT_EQ(lit("math.pi"), "math.pi");
  EXPECT_EQ(lit("data['sales']"), "data['sales']");
  EXPECT_EQ(lit("m[0][\"k]\"]"), "m[0][\"k]\"]");
  EXPECT_NE(error_of([] { lit("{1: 'a'}"); }).find("dict keys must be strings"), std::string::npos);
  EXPECT_NE(error_of([] { lit("{1, 2}"); }).find("set"), std::string::npos);
  EXPECT_NE(error_of([] { lit("[1, 2"); }).find("expected"), std::string::npos);
  EXPECT_NE(error_of([] { lit("1 2"); }).find("text after the value"), std::string::npos);
}

TEST(PythonCalls, ErrorsSayWhatAndWhere) {
  std::string e = error_of([] { parse_python_calls("[f(1, b=2)]"); });
  EXPECT_NE(e.find("[python_calls] column 4"), std::string::npos) << e;
  EXPECT_NE(e.find("positional argument"), std::string::npos) << e;
  e = error_of([] { parse_python_calls("[f(a=1, a=2)]"); });
  EXPECT_NE(e.find("'a' repeated"), std::string::npos) << e;
  e = error_of([] { parse_python_calls("[f(a=g(b=1))]"); });
  EXPECT_NE(e.find("a call as an argument value"), std::string::npos) << e;
  e = error_of([] { parse_python_calls("[f(a=1)] and more"); });
  EXPECT_NE(e.find("after the closing ']'"), std::string::npos) << e;
  e = error_of([] { parse_python_calls("[f(a=1)"); });
  EXPECT_NE(e.find("expected"), std::string::npos) << e;
  e = error_of([] { parse_python_calls("[f(a==1)]"); });
  EXPECT_NE(e.find("positional"), std::string::npos) << e;
  e = error_of([] { parse_python_calls("I will call f(a=1)"); });
  EXPECT_NE(e.find("'(' after the function name 'I'"), std::string::npos) << e;
}

TEST(PythonCalls, WrittenCallsReadBack) {
  ToolCall a;
  a.name = "tools.search";
  a.arguments = ojson::parse(R"({"q": "it's \"x\"\n\t\u0001", "n": -3, "f": 2.0, "g": 1e-05, "big": 1e+16,
                                 "ok": true, "none": null, "l": [1, [2, "b"]], "d": {"k'": {"z": []}}, "u": "caf\u00e9"})");
  ToolCall b;
  b.name = "g";
  const std::string text = python_calls_text({a, b});
  const auto back = parse_python_calls(text);
  ASSERT_EQ(back.size(), 2u) << text;
  EXPECT_EQ(back[0].name, "tools.search");
  EXPECT_EQ(back[0].arguments, a.arguments) << text;
  EXPECT_TRUE(back[0].arguments["f"].is_number_float()) << text;  // 2.0 stays a float
  EXPECT_TRUE(back[0].arguments["n"].is_number_integer()) << text;
  EXPECT_EQ(back[1].name, "g");
  // Python's repr quoting: double quotes only when the text has a single quote and no double one.
  EXPECT_EQ(python_literal("it's"), "\"it's\"");
  EXPECT_EQ(python_literal("say \"hi\""), "'say \"hi\"'");
  EXPECT_EQ(python_literal("both ' \""), "'both \\' \"'");
  EXPECT_EQ(python_calls_text({b}), "[g()]");
}

}  // namespace
}  // namespace et
