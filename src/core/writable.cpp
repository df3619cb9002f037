#include "edgetune/core/writable.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"

namespace et {

namespace {

// Creates and removes a file in `dir`; throws naming `path` (what the caller will write) and why.
void probe(const std::string& dir, const std::string& path, const std::string& what) {
  const std::string p = path_join(dir, ".edgetune-write-probe." + std::to_string(::getpid()));
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(what, path, ": cannot write there (", std::strerror(errno), ")");
  ::close(fd);
  ::unlink(p.c_str());
}

// The first missing folder on the way to `dir`, or a part of it that is a file.
void check_folder_chain(const std::string& dir, const std::string& path, const std::string& what) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) fail(what, path, ": ", dir, " is a file, not a folder");
    return;
  }
  if (errno == ENOTDIR) {
    // Some part above is a file: name it.
    std::string up = dir;
    while (up != "/" && up != ".") {
      up = parent_path(up);
      if (::stat(up.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) fail(what, path, ": ", up, " is a file, not a folder");
    }
    fail(what, path, ": ", dir, " is not a folder (", std::strerror(ENOTDIR), ")");
  }
}

}  // namespace

void check_writable_file(const std::string& path, const std::string& what) {
  if (path.empty()) return;
  if (is_directory(path)) fail(what, path, ": is a folder; expected the name of a file to write");
  const std::string dir = parent_path(path);
  check_folder_chain(dir, path, what);
  if (!is_directory(dir)) fail(what, path, ": the folder ", dir, " does not exist");
  probe(dir, path, what);
}

void check_writable_dir(const std::string& dir, const std::string& what) {
  if (dir.empty()) return;
  check_folder_chain(dir, dir, what);
  try {
    make_dirs(dir);
  } catch (const Error& e) {
    fail(what, dir, ": cannot create the folder (", e.what(), ")");
  }
  probe(dir, dir, what);
}

}  // namespace et
