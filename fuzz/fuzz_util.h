// Shared by the libFuzzer targets (one per parser, fuzz_<parser>.cpp; scripts/fuzz.sh runs them).
// Each target puts its input where the parser expects it (most parsers read files: a file in a
// per-process folder under /dev/shm), calls the parser as edgetune does, and accepts an et::Error:
// a clean refusal naming the file. Anything else is a finding: a sanitizer report, a crash, a
// leak, a timeout, or any other exception escaping (std::terminate).
#pragma once
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/log.h"

namespace et::fuzz {

// A folder of this process for the inputs, created once: $EDGETUNE_FUZZ_WORK_DIR/<pid> when that
// is set (scripts/fuzz.sh sets it and removes it after the target, also after a crash), else
// edgetune-fuzz-<pid> in /dev/shm when there is one, or in /tmp.
inline const std::string& work_dir() {
  static const std::string dir = [] {
    const char* env = std::getenv("EDGETUNE_FUZZ_WORK_DIR");
    std::string d = env && *env ? std::string(env) + "/" + std::to_string(::getpid())
                                : std::string(is_directory("/dev/shm") ? "/dev/shm" : "/tmp") +
                                      "/edgetune-fuzz-" + std::to_string(::getpid());
    make_dirs(d);
    set_log_level(LogLevel::quiet);  // warnings about the inputs would drown libFuzzer's lines
    return d;
  }();
  return dir;
}

// Writes the input to work_dir()/name (plainly: speed matters more than atomicity here).
inline std::string put(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = path_join(work_dir(), name);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

// Runs `f`; an et::Error is the expected answer to a bad input.
template <class F>
void accept_clean_errors(F&& f) {
  try {
    f();
  } catch (const Error&) {
  }
}

}  // namespace et::fuzz
