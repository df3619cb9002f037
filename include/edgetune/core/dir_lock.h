// One writer per folder: an advisory lock that a run takes on its output folder for as long as it
// writes there, so two runs started into the same folder cannot interleave their files.
//
// The lock is <dir>/.edgetune.lock, held with flock(2) for the lifetime of the DirLock, and holding
// one line "pid <pid> host <host> since <UTC time>: <what>" naming the holder. A second process
// that asks for the lock fails at once with an error naming that holder. The kernel drops a flock
// when its process dies, so a lock file left by a killed run (its line still there, its flock
// gone) is taken over, with a warning naming the dead holder. A clean release removes the file.
// Within one process the lock is re-entrant (a command and the library function it calls may
// both take it). flock is not reliable on some network file systems; there it only names holders.
#pragma once
#include <string>

namespace et {

class DirLock {
 public:
  // Creates `dir` if needed and takes its lock; throws "[lock] <dir> is in use by pid ..." when
  // another process holds it. `what` says what the holder is doing ("edgetune train").
  DirLock(const std::string& dir, const std::string& what);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;  // the lock file
};

// "<dir>/.edgetune.lock"
std::string dir_lock_path(const std::string& dir);

}  // namespace et
