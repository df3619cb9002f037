// Logging to stderr (stdout carries only results, so commands compose in scripts).
#pragma once
#include <string>

#include "edgetune/core/error.h"

namespace et {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3, quiet = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
// Parses "debug", "info", "warn", "error", "quiet".
LogLevel parse_log_level(const std::string& name);
void log_line(LogLevel level, const std::string& message);

template <class... A>
void log_debug(const A&... parts) {
  if (log_level() <= LogLevel::debug) log_line(LogLevel::debug, cat(parts...));
}
template <class... A>
void log_info(const A&... parts) {
  if (log_level() <= LogLevel::info) log_line(LogLevel::info, cat(parts...));
}
template <class... A>
void log_warn(const A&... parts) {
  if (log_level() <= LogLevel::warn) log_line(LogLevel::warn, cat(parts...));
}

// True when stderr is a terminal (progress bars redraw in place only then).
bool stderr_is_tty();

}  // namespace et
