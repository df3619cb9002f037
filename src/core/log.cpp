#include "edgetune/core/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>

namespace et {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::mutex g_log_mutex;
}  // namespace

void set_log_level(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load()); }

LogLevel parse_log_level(const std::string& name) {
  if (name == "debug") return LogLevel::debug;
  if (name == "info") return LogLevel::info;
  if (name == "warn" || name == "warning") return LogLevel::warn;
  if (name == "error") return LogLevel::error;
  if (name == "quiet") return LogLevel::quiet;
  fail("log", "unknown log level '", name, "' (use debug, info, warn, error or quiet)");
}

void log_line(LogLevel level, const std::string& message) {
  static const char* tags[] = {"debug", "info", "warning", "error", ""};
  std::lock_guard<std::mutex> lock(g_log_mutex);
  if (level == LogLevel::info)
    std::fprintf(stderr, "%s\n", message.c_str());
  else
    std::fprintf(stderr, "%s: %s\n", tags[static_cast<int>(level)], message.c_str());
  std::fflush(stderr);
}

bool stderr_is_tty() { return isatty(STDERR_FILENO) == 1; }

}  // namespace et
