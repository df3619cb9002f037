// The BFCL AST rules (bfcl.h): types, allowed values, one call against an expected call, and an
// example's calls against its expected ones.
#include <algorithm>
#include <cctype>
#include <functional>

#include "edgetune/eval/bfcl.h"

namespace et {

namespace {

using ojson = nlohmann::ordered_json;

// A value's type in Python's terms (what the leaderboard's type(value) sees).
enum class Kind { none, boolean, integer, floating, string, list, dict };

Kind kind_of(const ojson& v) {
  if (v.is_null()) return Kind::none;
  if (v.is_boolean()) return Kind::boolean;
  if (v.is_number_integer()) return Kind::integer;
  if (v.is_number()) return Kind::floating;
  if (v.is_string()) return Kind::string;
  if (v.is_array()) return Kind::list;
  return Kind::dict;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::none: return "None";
    case Kind::boolean: return "boolean";
    case Kind::integer: return "integer";
    case Kind::floating: return "float";
    case Kind::string: return "string";
    case Kind::list: return "list";
    case Kind::dict: return "dict";
  }
  return "?";
}

// A schema's type: BFCL's words and JSON schema's. A missing or unknown type takes any value.
enum class Type { string, integer, floating, boolean, array, tuple, dict, any };

Type parse_type(const std::string& t) {
  if (t == "string" || t == "str") return Type::string;
  if (t == "integer" || t == "int") return Type::integer;
  if (t == "float" || t == "number" || t == "double") return Type::floating;
  if (t == "boolean" || t == "bool") return Type::boolean;
  if (t == "array" || t == "list") return Type::array;
  if (t == "tuple") return Type::tuple;
  if (t == "dict" || t == "object") return Type::dict;
  return Type::any;
}

std::vector<Type> schema_types(const ojson& schema) {
  std::vector<Type> out;
  if (schema.is_object() && schema.contains("type")) {
    const ojson& t = schema["type"];
    if (t.is_string()) out.push_back(parse_type(t.get<std::string>()));
    if (t.is_array())
      for (const auto& x : t)
        if (x.is_string()) out.push_back(parse_type(x.get<std::string>()));
  }
  if (out.empty()) out.push_back(Type::any);
  return out;
}

// The Python type the leaderboard expects for a schema type (none for "any": no expectation).
Kind expected_kind(Type t) {
  switch (t) {
    case Type::string: return Kind::string;
    case Type::integer: return Kind::integer;
    case Type::floating: return Kind::floating;
    case Type::boolean: return Kind::boolean;
    case Type::array:
    case Type::tuple: return Kind::list;
    case Type::dict: return Kind::dict;
    case Type::any: return Kind::none;
  }
  return Kind::none;
}

std::string brief(const ojson& v) {
  std::string s = v.dump(-1, ' ', false, ojson::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

std::string type_error(const ojson& value, const ojson& schema, const std::string& path);

std::string one_type_error(const ojson& v, Type t, const ojson& schema, const std::string& path) {
  const Kind k = kind_of(v);
  auto wrong = [&](const char* want) {
    return "'" + path + "' should be " + want + ", got " + kind_name(k) + " " + brief(v);
  };
  switch (t) {
    case Type::string: return k == Kind::string ? "" : wrong("a string");
    case Type::integer: return k == Kind::integer ? "" : wrong("an integer");
    case Type::floating: return k == Kind::floating || k == Kind::integer ? "" : wrong("a float");
    case Type::boolean: return k == Kind::boolean ? "" : wrong("a boolean");
    case Type::array:
    case Type::tuple: {
      if (k != Kind::list) return wrong(t == Type::tuple ? "a tuple" : "a list");
      if (!schema.contains("items")) return "";
      for (size_t i = 0; i < v.size(); ++i) {
        std::string e = type_error(v[i], schema["items"], path + "[" + std::to_string(i) + "]");
        if (!e.empty()) return e;
      }
      return "";
    }
    case Type::dict: {
      if (k != Kind::dict) return wrong("a dict");
      if (!schema.contains("properties") || !schema["properties"].is_object()) return "";
      const ojson& props = schema["properties"];
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!props.contains(it.key())) continue;
        std::string e = type_error(it.value(), props[it.key()], path + "." + it.key());
        if (!e.empty()) return e;
      }
      return "";
    }
    case Type::any: return "";
  }
  return "";
}

// Why `value` does not have the schema's type ("" when it has; several types: any of them).
std::string type_error(const ojson& value, const ojson& schema, const std::string& path) {
  std::string first;
  for (Type t : schema_types(schema)) {
    std::string e = one_type_error(value, t, schema, path);
    if (e.empty()) return "";
    if (first.empty()) first = e;
  }
  return first;
}

// Why `value` is not among its schema's "enum" values, at any depth (list items by "items", dict
// values by "properties"): "" when every enum holds. Numbers compare by value (1 == 1.0).
std::string enum_error(const ojson& value, const ojson& schema, const std::string& path) {
  if (!schema.is_object()) return "";
  if (schema.contains("enum") && schema["enum"].is_array() && !schema["enum"].empty()) {
    for (const auto& allowed : schema["enum"])
      if (nlohmann::json(allowed) == nlohmann::json(value)) return "";
    return "'" + path + "' should be one of " + brief(schema["enum"]) + ", got " + brief(value);
  }
  if (value.is_array() && schema.contains("items"))
    for (size_t i = 0; i < value.size(); ++i) {
      std::string e = enum_error(value[i], schema["items"], path + "[" + std::to_string(i) + "]");
      if (!e.empty()) return e;
    }
  if (value.is_object() && schema.contains("properties") && schema["properties"].is_object())
    for (auto it = value.begin(); it != value.end(); ++it)
      if (schema["properties"].contains(it.key())) {
        std::string e = enum_error(it.value(), schema["properties"][it.key()], path + "." + it.key());
        if (!e.empty()) return e;
      }
  return "";
}

// Numbers by value as Python compares them (2 == 2.0; a boolean is 0 or 1).
bool numbers_equal(const ojson& a, const ojson& b) {
  auto as_double = [](const ojson& x) { return x.is_boolean() ? (x.get<bool>() ? 1.0 : 0.0) : x.get<double>(); };
  if (a.is_boolean() || b.is_boolean()) return as_double(a) == as_double(b);
  return a == b;  // JSON numbers compare by value across integer, unsigned and float
}

// Values written as they are: strings normalized (unless `exact`), numbers by value, lists and
// dicts element by element.
bool plain_equal(const ojson& v, const ojson& want, bool exact) {
  const bool vn = v.is_number() || v.is_boolean(), wn = want.is_number() || want.is_boolean();
  if (vn || wn) return vn && wn && numbers_equal(v, want);
  if (v.is_string() && want.is_string())
    return exact ? v == want : bfcl_normalize(v.get<std::string>()) == bfcl_normalize(want.get<std::string>());
  if (v.is_null() || want.is_null()) return v.is_null() && want.is_null();
  if (v.is_array() && want.is_array()) {
    if (v.size() != want.size()) return false;
    for (size_t i = 0; i < v.size(); ++i)
      if (!plain_equal(v[i], want[i], exact)) return false;
    return true;
  }
  if (v.is_object() && want.is_object()) {
    if (v.size() != want.size()) return false;
    for (auto it = v.begin(); it != v.end(); ++it)
      if (!want.contains(it.key()) || !plain_equal(it.value(), want[it.key()], exact)) return false;
    return true;
  }
  return false;
}

bool has_empty_choice(const ojson& choices) {
  if (!choices.is_array()) return choices == "";
  return std::any_of(choices.begin(), choices.end(), [](const ojson& c) { return c == ""; });
}

// A dict against an answer's dict {key: [allowed values...]}: no key the answer lacks, each
// value among its key's, the keys not given optional.
bool answer_dict_match(const ojson& v, const ojson& want) {
  if (!v.is_object()) return false;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!want.contains(it.key())) return false;
    const ojson& choices = want[it.key()];
    bool ok = false;
    if (choices.is_array()) {
      for (const auto& c : choices) ok = ok || plain_equal(it.value(), c, false);
    } else {
      ok = plain_equal(it.value(), choices, false);
    }
    if (!ok) return false;
  }
  for (auto it = want.begin(); it != want.end(); ++it)
    if (!v.contains(it.key()) && !has_empty_choice(it.value())) return false;
  return true;
}

// A parameter's value against one of its allowed values.
bool answer_match(const ojson& v, const ojson& want) {
  if (want.is_object()) return answer_dict_match(v, want);
  if (want.is_array()) {
    if (!v.is_array() || v.size() != want.size()) return false;
    for (size_t i = 0; i < v.size(); ++i)
      if (!(want[i].is_object() ? answer_dict_match(v[i], want[i]) : plain_equal(v[i], want[i], false))) return false;
    return true;
  }
  return plain_equal(v, want, false);
}

// A list whose items lack the items' schema type pass when, for one allowed list, each item has the
// schema type or the type of that list's items (the answer's list is of strings where the schema
// says integers: the answer is right about what is expected).
bool list_items_as_answer(const ojson& v, const ojson& schema, const ojson& choices) {
  if (!schema.contains("items")) return false;
  for (const auto& c : choices) {
    if (!c.is_array()) continue;
    const ojson* first = nullptr;
    for (const auto& x : c)
      if (x != "") {
        first = &x;
        break;
      }
    bool ok = true;
    for (const auto& item : v)
      ok = ok && (type_error(item, schema["items"], "").empty() || (first && kind_of(item) == kind_of(*first)));
    if (ok) return true;
  }
  return false;
}

const ojson* find_function(const ojson& functions, const std::string& name) {
  if (!functions.is_array()) return nullptr;
  for (const auto& f : functions)
    if (f.is_object() && f.contains("name") && f["name"] == name) return &f;
  return nullptr;
}

const ojson& empty_object() {
  static const ojson e = ojson::object();
  return e;
}
const ojson& empty_array() {
  static const ojson e = ojson::array();
  return e;
}

const ojson& properties_of(const ojson& function) {
  if (function.contains("parameters") && function["parameters"].is_object()) {
    const ojson& p = function["parameters"];
    if (p.contains("properties") && p["properties"].is_object()) return p["properties"];
  }
  return empty_object();
}
const ojson& required_of(const ojson& function) {
  if (function.contains("parameters") && function["parameters"].is_object()) {
    const ojson& p = function["parameters"];
    if (p.contains("required") && p["required"].is_array()) return p["required"];
  }
  return empty_array();
}

// Maximum one-to-one assignment of expected calls (rows) to output calls (columns) where ok[i][j]
// (augmenting paths; a handful of calls).
std::vector<int> assign(const std::vector<std::vector<bool>>& ok, size_t columns) {
  std::vector<int> row_of(columns, -1);
  std::function<bool(size_t, std::vector<bool>&)> try_row = [&](size_t i, std::vector<bool>& seen) {
    for (size_t j = 0; j < columns; ++j) {
      if (!ok[i][j] || seen[j]) continue;
      seen[j] = true;
      if (row_of[j] < 0 || try_row(static_cast<size_t>(row_of[j]), seen)) {
        row_of[j] = static_cast<int>(i);
        return true;
      }
    }
    return false;
  };
  for (size_t i = 0; i < ok.size(); ++i) {
    std::vector<bool> seen(columns, false);
    try_row(i, seen);
  }
  std::vector<int> column_of(ok.size(), -1);
  for (size_t j = 0; j < columns; ++j)
    if (row_of[j] >= 0) column_of[static_cast<size_t>(row_of[j])] = static_cast<int>(j);
  return column_of;
}

std::string call_count(size_t n) { return std::to_string(n) + (n == 1 ? " call" : " calls"); }

}  // namespace

BfclRule bfcl_rule_for_category(const std::string& category) {
  if (category.find("irrelevance") != std::string::npos) return BfclRule::no_call;
  if (category.find("parallel") != std::string::npos) return BfclRule::any_order;
  return BfclRule::ordered;
}

// Python's str.lower() also lowers non-ASCII letters; BFCL's strings that matter are ASCII.
std::string bfcl_normalize(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case ' ':
      case ',':
      case '.':
      case '/':
      case '-':
      case '_':
      case '*':
      case '^': break;
      case '\'': out += '"'; break;
      default: out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

std::string bfcl_call_mismatch(const ojson& function, const ToolCall& call, const BfclExpectedCall& expected) {
  if (call.name != expected.name) return "called '" + call.name + "', expected '" + expected.name + "'";
  const ojson& props = properties_of(function);
  for (const auto& r : required_of(function))
    if (r.is_string() && !call.arguments.contains(r.get<std::string>()))
      return "missing required parameter '" + r.get<std::string>() + "'";
  for (auto it = call.arguments.begin(); it != call.arguments.end(); ++it) {
    const std::string& param = it.key();
    const ojson& v = it.value();
    if (!props.contains(param) || !expected.allowed.contains(param)) return "unexpected parameter '" + param + "'";
    const ojson& choices = expected.allowed[param];
    const ojson& schema = props[param];
    // The type of the answer's values: when it is not the schema's, the answer names a variable
    // (a string for an array, say) and values are compared as they are.
    const ojson* first = nullptr;
    for (const auto& c : choices)
      if (c != "") {
        first = &c;
        break;
      }
    const std::vector<Type> types = schema_types(schema);
    const Kind want = types.size() == 1 ? expected_kind(types[0]) : Kind::none;
    Kind vk = kind_of(v);
    if (want == Kind::floating && vk == Kind::integer) vk = Kind::floating;  // int is taken for a float
    bool variable = first && want != Kind::none && kind_of(*first) != want;
    std::string te = type_error(v, schema, param);
    if (!te.empty() && vk == Kind::list && want == Kind::list && list_items_as_answer(v, schema, choices)) te.clear();
    if (!te.empty()) {
      // A value of the answer's type passes as a variable; one of the schema's own outer type
      // whose items are wrong does not.
      if (!first || vk != kind_of(*first) || vk == want) return te;
      variable = true;
    }
    bool ok = false;
    for (const auto& c : choices) ok = ok || (variable ? plain_equal(v, c, true) : answer_match(v, c));
    if (!ok) return "'" + param + "': " + brief(v) + " is not among the allowed values " + brief(choices);
  }
  for (auto it = expected.allowed.begin(); it != expected.allowed.end(); ++it)
    if (!call.arguments.contains(it.key()) && !has_empty_choice(it.value()))
      return "parameter '" + it.key() + "' is not given (the answer does not make it optional)";
  return "";
}

std::string bfcl_schema_error(const ojson& functions, const ToolCall& call) {
  const ojson* f = find_function(functions, call.name);
  if (!f) return "'" + call.name + "' is not an offered function";
  const ojson& props = properties_of(*f);
  for (const auto& r : required_of(*f))
    if (r.is_string() && !call.arguments.contains(r.get<std::string>()))
      return "'" + call.name + "': missing required parameter '" + r.get<std::string>() + "'";
  for (auto it = call.arguments.begin(); it != call.arguments.end(); ++it) {
    if (!props.contains(it.key())) return "'" + call.name + "': unknown parameter '" + it.key() + "'";
    std::string te = type_error(it.value(), props[it.key()], it.key());
    if (te.empty()) te = enum_error(it.value(), props[it.key()], it.key());
    if (!te.empty()) return "'" + call.name + "': " + te;
  }
  return "";
}

BfclResult score_bfcl(const BfclExample& e, const BfclOutput& out) {
  BfclResult r;
  r.id = e.id;
  r.category = e.category;
  r.output = out;
  std::string invalid = out.malformed ? "the output does not parse: " + out.error : "";
  for (size_t j = 0; j < out.calls.size() && invalid.empty(); ++j) {
    const std::string se = bfcl_schema_error(e.functions, out.calls[j]);
    if (!se.empty()) invalid = "call " + std::to_string(j + 1) + ": " + se;
  }
  r.valid = invalid.empty();
  std::string wrong;
  if (e.rule == BfclRule::no_call) {
    r.correct = out.calls.empty();
    if (!r.correct) wrong = "called '" + out.calls[0].name + "' where no call is expected";
  } else if (out.malformed) {
    wrong = invalid;
  } else {
    const size_t n = e.expected.size(), m = out.calls.size();
    std::vector<std::vector<std::string>> why(n, std::vector<std::string>(m));
    std::vector<std::vector<bool>> ok(n, std::vector<bool>(m, false));
    for (size_t i = 0; i < n; ++i) {
      const ojson* f = find_function(e.functions, e.expected[i].name);
      for (size_t j = 0; j < m; ++j) {
        if (e.rule == BfclRule::ordered && i != j) continue;
        why[i][j] = f ? bfcl_call_mismatch(*f, out.calls[j], e.expected[i])
                      : "'" + e.expected[i].name + "' is not among the question's functions";
        ok[i][j] = why[i][j].empty();
      }
    }
    const std::vector<int> column = assign(ok, m);
    r.matched.resize(n);
    for (size_t i = 0; i < n; ++i) r.matched[i] = column[i] >= 0;
    r.correct = m == n && std::all_of(r.matched.begin(), r.matched.end(), [](bool b) { return b; });
    if (m != n) {
      wrong = "wrong number of calls: " + call_count(m) + ", expected " + std::to_string(n);
    } else if (!r.correct) {
      const size_t i = static_cast<size_t>(std::find(r.matched.begin(), r.matched.end(), false) - r.matched.begin());
      const std::string label = "expected call " + std::to_string(i + 1) + " ('" + e.expected[i].name + "')";
      if (e.rule == BfclRule::ordered) {
        wrong = label + ": " + why[i][i];
      } else {
        // The reason from the closest unassigned call: one of the same name if there is one.
        std::vector<bool> taken(m, false);
        for (int c : column)
          if (c >= 0) taken[static_cast<size_t>(c)] = true;
        int best = -1;
        for (size_t j = 0; j < m; ++j) {
          if (taken[j] || why[i][j].empty()) continue;
          if (best < 0 || (out.calls[j].name == e.expected[i].name &&
                           out.calls[static_cast<size_t>(best)].name != e.expected[i].name))
            best = static_cast<int>(j);
        }
        wrong = best >= 0 ? label + " not matched; closest, call " + std::to_string(best + 1) + ": " +
                                why[i][static_cast<size_t>(best)]
                          : label + " not matched: each call that matches it is assigned to another";
      }
    }
  }
  r.reason = !wrong.empty() ? wrong : invalid;
  return r;
}

}  // namespace et
