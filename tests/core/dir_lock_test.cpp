// One writer per folder: a second process asking for a folder's lock is refused at once with an
// error naming the holder (pid and host); the lock of a killed process (its file still there, its
// flock gone with it) is taken over with a warning naming the dead holder; a clean release
// removes the lock file; within one process the lock nests.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "edgetune/core/dir_lock.h"
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "test_util.h"

namespace et {
namespace {

std::string host_name() {
  char h[256] = "";
  ::gethostname(h, sizeof h - 1);
  return h;
}

// A child process that takes the lock of `dir`, says so on a pipe and waits for a byte (or a kill).
struct LockHolder {
  pid_t pid = -1;
  int go[2] = {-1, -1};
  explicit LockHolder(const std::string& dir) {
    int ready[2];
    if (::pipe(ready) != 0 || ::pipe(go) != 0) throw std::runtime_error("pipe");
    pid = ::fork();
    if (pid == 0) {
      ::close(ready[0]);
      ::close(go[1]);
      try {
        DirLock lock(dir, "a test holder");
        char c = 'r';
        if (::write(ready[1], &c, 1) != 1) ::_exit(3);
        if (::read(go[0], &c, 1) < 0) ::_exit(4);
      } catch (...) {
        ::_exit(2);
      }
      ::_exit(0);
    }
    ::close(ready[1]);
    ::close(go[0]);
    char c = 0;
    if (::read(ready[0], &c, 1) != 1) throw std::runtime_error("the holder did not take the lock");
    ::close(ready[0]);
  }
  int release() {
    char c = 'g';
    if (::write(go[1], &c, 1) != 1) return -1;
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  void kill() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    pid = -1;
  }
  ~LockHolder() {
    if (pid > 0) kill();
    ::close(go[1]);
  }
};

TEST(DirLock, ASecondProcessIsRefusedNamingTheHolder) {
  const std::string dir = path_join(test::temp_dir("lock"), "run");
  LockHolder holder(dir);
  const std::string msg = test::error_of([&] { DirLock again(dir, "edgetune train"); });
  EXPECT_NE(msg.find("is in use by another run"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pid " + std::to_string(holder.pid)), std::string::npos) << msg;
  EXPECT_NE(msg.find("host " + host_name()), std::string::npos) << msg;
  EXPECT_NE(msg.find("a test holder"), std::string::npos) << msg;
  EXPECT_EQ(holder.release(), 0);
  EXPECT_FALSE(file_exists(dir_lock_path(dir))) << "a clean release removes the lock file";
  testing::internal::CaptureStderr();
  { DirLock mine(dir, "edgetune train"); }
  EXPECT_EQ(testing::internal::GetCapturedStderr().find("stale"), std::string::npos);
}

TEST(DirLock, AKilledHoldersLockIsTakenOverWithAWarning) {
  const std::string dir = path_join(test::temp_dir("lock-stale"), "run");
  LockHolder holder(dir);
  const pid_t dead = holder.pid;
  holder.kill();
  ASSERT_TRUE(file_exists(dir_lock_path(dir))) << "a killed holder leaves its lock file";
  EXPECT_NE(read_text_file(dir_lock_path(dir)).find("pid " + std::to_string(dead)), std::string::npos);
  testing::internal::CaptureStderr();
  {
    DirLock mine(dir, "edgetune train");
    EXPECT_NE(read_text_file(dir_lock_path(dir)).find("pid " + std::to_string(::getpid())), std::string::npos);
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("taking over a stale lock"), std::string::npos) << err;
  EXPECT_NE(err.find("pid " + std::to_string(dead)), std::string::npos) << err;
}

TEST(DirLock, NestsWithinAProcessAndNamesOneFolderHoweverSpelled) {
  const std::string base = test::temp_dir("lock-nest");
  const std::string dir = path_join(base, "run");
  {
    DirLock outer(dir, "outer");
    DirLock inner(base + "/./run/", "inner");  // the same folder: nested, not refused
    EXPECT_EQ(inner.path(), outer.path());
  }
  EXPECT_FALSE(file_exists(dir_lock_path(dir)));
  // Released: another process can take it.
  LockHolder holder(dir);
  EXPECT_EQ(holder.release(), 0);
}

}  // namespace
}  // namespace et
