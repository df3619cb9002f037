// Typed reads of config.json fields with errors that name the file and the key. A missing key
// or a JSON null gives the default; a value of the wrong type is an error, never a crash.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "edgetune/core/error.h"

namespace et::model::detail {

using nlohmann::json;

inline bool has_value(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && !j[key].is_null();
}

inline int64_t get_int(const json& j, const char* key, int64_t def, const std::string& src) {
  if (!has_value(j, key)) return def;
  const json& v = j[key];
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>())))
    return static_cast<int64_t>(v.get<double>());
  fail("config", src, ": '", key, "' should be an integer, got ", v.dump());
}

inline int64_t require_int(const json& j, const char* key, const std::string& src) {
  if (!has_value(j, key)) fail("config", src, ": required key '", key, "' is missing");
  return get_int(j, key, 0, src);
}

inline double get_double(const json& j, const char* key, double def, const std::string& src) {
  if (!has_value(j, key)) return def;
  const json& v = j[key];
  if (!v.is_number()) fail("config", src, ": '", key, "' should be a number, got ", v.dump());
  return v.get<double>();
}

inline bool get_bool(const json& j, const char* key, bool def, const std::string& src) {
  if (!has_value(j, key)) return def;
  const json& v = j[key];
  if (!v.is_boolean()) fail("config", src, ": '", key, "' should be true or false, got ", v.dump());
  return v.get<bool>();
}

inline std::string get_string(const json& j, const char* key, const std::string& def,
                              const std::string& src) {
  if (!has_value(j, key)) return def;
  const json& v = j[key];
  if (!v.is_string()) fail("config", src, ": '", key, "' should be a string, got ", v.dump());
  return v.get<std::string>();
}

}  // namespace et::model::detail
