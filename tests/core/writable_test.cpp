// Output paths are checked before the work: a file whose folder is missing, a folder given where a
// file is expected, a file in the way of a folder, a place that refuses new files: each an error
// naming the path; a writable place passes and keeps nothing behind.
#include <gtest/gtest.h>

#include "edgetune/core/file_io.h"
#include "edgetune/core/writable.h"
#include "test_util.h"

namespace et {
namespace {

TEST(Writable, FilesAndFolders) {
  const std::string dir = test::temp_dir("writable");
  EXPECT_NO_THROW(check_writable_file(path_join(dir, "plan.json"), "plan -o"));
  EXPECT_NO_THROW(check_writable_file("", "plan -o"));
  EXPECT_NO_THROW(check_writable_dir(path_join(dir, "a/b"), "output.dir"));
  EXPECT_TRUE(is_directory(path_join(dir, "a/b"))) << "a missing output folder is created";
  EXPECT_FALSE(file_exists(path_join(dir, "plan.json")));

  std::string msg = test::error_of([&] { check_writable_file(path_join(dir, "nope/plan.json"), "plan -o"); });
  EXPECT_NE(msg.find("[plan -o] " + path_join(dir, "nope/plan.json")), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
  msg = test::error_of([&] { check_writable_file(dir, "eval --json"); });
  EXPECT_NE(msg.find("is a folder"), std::string::npos) << msg;
  write_file_atomic(path_join(dir, "f"), "x");
  msg = test::error_of([&] { check_writable_file(path_join(dir, "f/x.json"), "eval --json"); });
  EXPECT_NE(msg.find(path_join(dir, "f") + " is a file, not a folder"), std::string::npos) << msg;
  msg = test::error_of([&] { check_writable_dir(path_join(dir, "f/run"), "output.dir"); });
  EXPECT_NE(msg.find(path_join(dir, "f") + " is a file, not a folder"), std::string::npos) << msg;
  // /proc takes no new files, even from root.
  msg = test::error_of([&] { check_writable_file("/proc/edgetune-plan.json", "plan -o"); });
  EXPECT_NE(msg.find("/proc/edgetune-plan.json: cannot write there"), std::string::npos) << msg;
  msg = test::error_of([&] { check_writable_dir("/proc/edgetune-run", "output.dir"); });
  EXPECT_NE(msg.find("/proc/edgetune-run"), std::string::npos) << msg;
}

}  // namespace
}  // namespace et
