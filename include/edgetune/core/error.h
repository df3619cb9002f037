// Errors carry their context: "[where] what went wrong". Library code throws et::Error;
// only main() catches and turns it into a message and a non-zero exit code.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace et {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Concatenates any streamable values: cat("has ", 3, " blocks") == "has 3 blocks".
template <class... A>
std::string cat(const A&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

// Throws Error("[where] parts...").
template <class... A>
[[noreturn]] void fail(std::string_view where, const A&... parts) {
  throw Error(cat("[", where, "] ", parts...));
}

}  // namespace et

// ET_CHECK(cond, "nf4_dequant", "absmax has ", n, " blocks, weight needs ", m);
#define ET_CHECK(cond, where, ...)                  \
  do {                                              \
    if (!(cond)) ::et::fail(where, __VA_ARGS__);    \
  } while (0)
