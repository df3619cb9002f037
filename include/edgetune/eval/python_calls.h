// Function calls written as Python, the form the Berkeley Function Calling Leaderboard asks
// prompted models for:  [f(a=1, b='x'), math.g(c=[1, 2], d={'k': 2.5})]
//
// parse_python_calls reads a list of calls in brackets, one call, or calls separated by commas;
// surrounding whitespace and backticks (a ``` fence, with an optional language tag) are ignored.
// Function names may be dotted. Arguments are keyword arguments (a positional one is an error:
// the leaderboard reads keywords only) whose values are Python literals, read into JSON:
//   int -> integer (decimal with `_`, 0x, 0o, 0b; beyond 64 bits an error), float -> float
//   (1.5, .5, 1., 1e-3), unary + and - on numbers; str -> string ('..', "..", triple quotes,
//   r/u prefixes, adjacent literals joined, escapes \n \t \\ \' \" \xhh \uXXXX \UXXXXXXXX, octal);
//   True/False -> booleans, None -> null; list and tuple -> array; dict (string keys) -> object.
// A bare name (a variable, `math.pi`) or a subscript of one (`data['sales']`) becomes its source
// text as a string, as the leaderboard's decoder turns them into strings.
// Errors throw et::Error("[python_calls] column N: ...").
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edgetune/tokenize/chat_template.h"

namespace et {

std::vector<ToolCall> parse_python_calls(const std::string& text);

// One Python literal (the value grammar above), e.g. "{'k': [1, 2.5, None]}".
nlohmann::ordered_json parse_python_literal(const std::string& text);

// The calls as Python source, "[f(a=1, b='x')]", which parse_python_calls reads back. Strings are
// written as Python's repr writes them (single quotes unless the text has one and no double quote).
std::string python_calls_text(const std::vector<ToolCall>& calls);
std::string python_literal(const nlohmann::ordered_json& value);

// `text` without surrounding whitespace and backticks, and without the language tag of a ``` fence
// ("```python\n[f()]\n```" -> "[f()]").
std::string strip_code_fence(const std::string& text);

}  // namespace et
