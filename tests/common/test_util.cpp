#include "test_util.h"

#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"

namespace et::test {

std::string shared_dir() {
  if (const char* e = std::getenv("ET_SHARED_DIR")) return e;
  return ET_SHARED_DIR;
}

std::string shared_path(const std::string& rel) {
  std::string p = path_join(shared_dir(), rel);
  return file_exists(p) ? p : std::string();
}

std::string source_dir() { return ET_SOURCE_DIR; }

std::string golden(const std::string& family) { return path_join(path_join(source_dir(), "tests/golden"), family); }

namespace {
// Temp dirs made by this process, removed at exit (with nftw: std::filesystem::remove_all is not
// safe next to some libtorch builds, which export their own copy of it).
std::vector<std::string>& temp_dirs() {
  static std::vector<std::string> dirs;
  return dirs;
}
int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }
void remove_temp_dirs() {
  if (std::getenv("ET_KEEP_TEST_DIRS")) return;
  for (const auto& d : temp_dirs()) nftw(d.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
}  // namespace

std::string temp_dir(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/edgetune-test-" + tag + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  if (temp_dirs().empty()) std::atexit(remove_temp_dirs);
  temp_dirs().push_back(buf.data());
  return buf.data();
}

CliResult run_cli(const std::vector<std::string>& args, const std::string& stdin_text) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe(in_pipe) || pipe(out_pipe) || pipe(err_pipe)) throw std::runtime_error("pipe failed");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    std::vector<char*> argv;
    std::string bin = ET_BINARY;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  CliResult r;
  size_t written = 0;
  if (stdin_text.empty()) {
    close(in_pipe[1]);
    in_pipe[1] = -1;
  }
  struct pollfd fds[3];
  bool out_open = true, err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    int n = 0;
    fds[n++] = {out_open ? out_pipe[0] : -1, POLLIN, 0};
    fds[n++] = {err_open ? err_pipe[0] : -1, POLLIN, 0};
    fds[n++] = {in_pipe[1], POLLOUT, 0};
    if (poll(fds, 3, -1) < 0) break;
    if (fds[0].revents) {
      ssize_t k = read(out_pipe[0], buf, sizeof buf);
      if (k <= 0) out_open = false; else r.out.append(buf, static_cast<size_t>(k));
    }
    if (fds[1].revents) {
      ssize_t k = read(err_pipe[0], buf, sizeof buf);
      if (k <= 0) err_open = false; else r.err.append(buf, static_cast<size_t>(k));
    }
    if (in_pipe[1] >= 0 && fds[2].revents) {
      ssize_t k = write(in_pipe[1], stdin_text.data() + written, stdin_text.size() - written);
      if (k > 0) written += static_cast<size_t>(k);
      if (k <= 0 || written == stdin_text.size()) {
        close(in_pipe[1]);
        in_pipe[1] = -1;
      }
    }
  }
  if (in_pipe[1] >= 0) close(in_pipe[1]);
  close(out_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace et::test
