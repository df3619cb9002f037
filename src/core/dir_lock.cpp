#include "edgetune/core/dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/log.h"

namespace et {

namespace {

struct Held {
  int fd = -1;
  int count = 0;
};

// Locks this process holds, by lock-file path (flock is per open file: a second open in the same
// process would conflict with the first).
std::mutex g_held_mutex;
std::map<std::string, Held>& held() {
  static std::map<std::string, Held> m;
  return m;
}

std::string read_fd(int fd) {
  std::string s;
  char buf[512];
  ssize_t n;
  off_t at = 0;
  while ((n = ::pread(fd, buf, sizeof buf, at)) > 0) {
    s.append(buf, static_cast<size_t>(n));
    at += n;
    if (s.size() > 4096) break;
  }
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
  return s;
}

std::string holder_line(const std::string& what) {
  char host[256] = "unknown";
  ::gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  char when[32] = "";
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return cat("pid ", ::getpid(), " host ", host, " since ", when, ": ", what, "\n");
}

}  // namespace

std::string dir_lock_path(const std::string& dir) { return path_join(dir, ".edgetune.lock"); }

DirLock::DirLock(const std::string& dir, const std::string& what) {
  make_dirs(dir);
  // One key per folder however it is spelled (runs/x, ./runs/x, /abs/runs/x).
  char real[PATH_MAX];
  path_ = dir_lock_path(::realpath(dir.c_str(), real) ? std::string(real) : dir);
  std::lock_guard<std::mutex> g(g_held_mutex);
  auto it = held().find(path_);
  if (it != held().end()) {
    ++it->second.count;
    return;
  }
  for (int attempt = 0;; ++attempt) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail("lock", path_, ": cannot create the lock file (", std::strerror(errno), ")");
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const std::string holder = read_fd(fd);
      ::close(fd);
      if (err == EWOULDBLOCK)
        fail("lock", dir, " is in use by another run: ", holder.empty() ? "a process that has not written its name yet" : holder,
             "; wait for it to finish or choose another output folder");
      fail("lock", path_, ": cannot lock (", std::strerror(err), ")");
    }
    // The holder before us may have removed the file between our open and our flock: then we
    // hold a lock on a file nobody else will open. Try again on the file that is there now.
    struct stat a, b;
    if (::fstat(fd, &a) != 0 || ::stat(path_.c_str(), &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
      ::close(fd);
      if (attempt > 20) fail("lock", path_, ": the lock file keeps changing under us");
      continue;
    }
    const std::string stale = read_fd(fd);
    if (!stale.empty())
      log_warn("[lock] ", dir, ": taking over a stale lock (", stale,
               "; that process no longer holds it: it was killed or crashed)");
    const std::string line = holder_line(what);
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size())) {
      const int err = errno;
      ::unlink(path_.c_str());  // still holding the flock: no one else uses this file
      ::close(fd);
      fail("lock", path_, ": cannot write the lock file (", std::strerror(err), ")");
    }
    held()[path_] = {fd, 1};
    return;
  }
}

DirLock::~DirLock() {
  std::lock_guard<std::mutex> g(g_held_mutex);
  auto it = held().find(path_);
  if (it == held().end()) return;
  if (--it->second.count > 0) return;
  ::unlink(path_.c_str());  // while still holding the flock (see the inode check above)
  ::close(it->second.fd);
  held().erase(it);
}

}  // namespace et
