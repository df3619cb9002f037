// Path spelling: absolute paths against the current folder, lexical normalization ("a/./b/../c"
// -> "a/c"), "~/" expansion. Pure string work: no symlinks are resolved, nothing must exist.
#pragma once
#include <string>

namespace et {

bool is_absolute_path(const std::string& p);
// Removes "." components, folds "x/.." pairs and repeated slashes; "" -> ".".
std::string normalize_path(const std::string& p);
// "~" or "~/..." with $HOME; other paths unchanged.
std::string expand_home(const std::string& p);
// `p` (after expand_home) resolved against `base` (a folder) when relative, then normalized; an
// absolute `p` is returned as written.
std::string resolve_path(const std::string& p, const std::string& base);
// resolve_path against the current working folder.
std::string absolute_path(const std::string& p);

}  // namespace et
