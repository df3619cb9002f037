// Helpers shared by the tests: where ../shared is, temp dirs, and running the built CLI.
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace et::test {

// ../shared beside the checkout (or $ET_SHARED_DIR at run time).
std::string shared_dir();
// Path inside ../shared; empty if it does not exist.
std::string shared_path(const std::string& rel);
// A fresh empty directory under $TMPDIR (or /tmp), removed at exit unless ET_KEEP_TEST_DIRS is set.
std::string temp_dir(const std::string& tag);
std::string source_dir();
// tests/golden/<family>: the small Hugging Face model folders committed with the tests.
std::string golden(const std::string& family);

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};
// Runs build/edgetune with `args` (no shell), optional stdin text.
CliResult run_cli(const std::vector<std::string>& args, const std::string& stdin_text = "");

// The message of the et::Error that `f` throws, or "" when it throws none.
std::string error_of(const std::function<void()>& f);

}  // namespace et::test

// Skips the current test with a clear message when a ../shared file is absent.
#define ET_REQUIRE_SHARED(var, rel)                                                   \
  std::string var = ::et::test::shared_path(rel);                                     \
  if (var.empty()) GTEST_SKIP() << "../shared/" << (rel) << " is absent; skipping"
