// Checks that an output can be written, before the work that produces it starts: a command that
// runs for minutes must not fail at its last step because its output path is a typo, a read-only
// folder or a file where a folder should be.
#pragma once
#include <string>

namespace et {

// `path` names a file to be written (atomically, next to itself): it must not be a folder, and its
// folder must exist and accept a new file (probed by creating and removing one). Throws
// "[<what>] <path>: ..." naming the problem. An empty path passes.
void check_writable_file(const std::string& path, const std::string& what);

// `dir` is a folder to write files into: created (with its parents) if missing, then probed.
void check_writable_dir(const std::string& dir, const std::string& what);

}  // namespace et
