#include "edgetune/core/paths.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "edgetune/core/error.h"

namespace et {

bool is_absolute_path(const std::string& p) { return !p.empty() && p[0] == '/'; }

std::string normalize_path(const std::string& p) {
  const bool abs = is_absolute_path(p);
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    const std::string part = p.substr(i, j - i);
    if (part.empty() || part == ".") {
    } else if (part == "..") {
      if (!parts.empty() && parts.back() != "..") parts.pop_back();
      else if (!abs) parts.push_back("..");  // "/.." is "/"
    } else {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out = abs ? "/" : "";
  for (size_t k = 0; k < parts.size(); ++k) out += (k ? "/" : "") + parts[k];
  return out.empty() ? "." : out;
}

std::string expand_home(const std::string& p) {
  if (p == "~" || p.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    if (home && *home) return std::string(home) + p.substr(1);
  }
  return p;
}

std::string resolve_path(const std::string& p_in, const std::string& base) {
  const std::string p = expand_home(p_in);
  if (p.empty() || is_absolute_path(p)) return p;  // as written: the user's own spelling
  return normalize_path(base.empty() ? p : base + "/" + p);
}

std::string absolute_path(const std::string& p) {
  std::string cwd;
  std::vector<char> buf(4096);
  while (!::getcwd(buf.data(), buf.size())) {
    if (errno != ERANGE) fail("path", "cannot read the current folder (", std::strerror(errno), ")");
    buf.resize(buf.size() * 2);
  }
  cwd = buf.data();
  return resolve_path(p, cwd);
}

}  // namespace et
