// Per-tensor checksums: a file written with them verifies; one flipped bit in any tensor's bytes
// fails naming the file and the tensor; a file written without them (older files) still passes;
// a checksum list that disagrees with the tensors is an error.
#include <gtest/gtest.h>

#include <vector>

#include "edgetune/core/checksums.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/safetensors.h"
#include "test_util.h"

namespace et {
namespace {

std::string write_two(const std::string& path, bool with_checksums, const std::string& sums_override = "") {
  std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {0.5f, -0.25f};
  std::vector<TensorToWrite> t = {{"a", DType::f32, {2, 3}, a.data(), a.size() * 4},
                                  {"b", DType::f32, {2}, b.data(), b.size() * 4}};
  std::map<std::string, std::string> md = {{"format", "test"}};
  if (with_checksums) add_checksums(md, t);
  if (!sums_override.empty()) md[kChecksumsKey] = sums_override;
  write_safetensors(path, t, md);
  return path;
}

// Flips bit `bit` of the byte `from_end` bytes before the end of the file (inside the data).
void flip(const std::string& path, size_t from_end, int bit) {
  std::string bytes = read_text_file(path);
  bytes[bytes.size() - from_end] = static_cast<char>(bytes[bytes.size() - from_end] ^ (1 << bit));
  write_file_atomic(path, bytes);
}

TEST(Checksums, VerifyAndDetectAFlippedBit) {
  const std::string dir = test::temp_dir("checksums");
  const std::string p = write_two(path_join(dir, "x.safetensors"), true);
  {
    SafetensorsFile f(p);
    EXPECT_TRUE(has_checksums(f));
    EXPECT_NO_THROW(verify_checksums(f));
  }
  // The last 8 bytes are tensor b; byte 9 from the end is in a.
  for (int bit : {0, 7}) {
    const std::string q = write_two(path_join(dir, "y.safetensors"), true);
    flip(q, 1, bit);
    std::string msg = test::error_of([&] { verify_checksums(SafetensorsFile(q)); });
    EXPECT_NE(msg.find(q), std::string::npos) << msg;
    EXPECT_NE(msg.find("tensor 'b' fails its checksum"), std::string::npos) << msg;
    write_two(q, true);
    flip(q, 9, bit);
    msg = test::error_of([&] { verify_checksums(SafetensorsFile(q)); });
    EXPECT_NE(msg.find("tensor 'a' fails its checksum"), std::string::npos) << msg;
  }
}

TEST(Checksums, FilesWithoutThemPassAndBadListsFail) {
  const std::string dir = test::temp_dir("checksums-old");
  const std::string old = write_two(path_join(dir, "old.safetensors"), false);
  SafetensorsFile f(old);
  EXPECT_FALSE(has_checksums(f));
  EXPECT_NO_THROW(verify_checksums(f));
  const std::string missing = write_two(path_join(dir, "m.safetensors"), false, R"({"a":"fnv1a64w:0000000000000000"})");
  EXPECT_NE(test::error_of([&] { verify_checksums(SafetensorsFile(missing)); }).find("tensor 'a' fails"), std::string::npos);
  SafetensorsFile good(write_two(path_join(dir, "g.safetensors"), true));
  std::string sums = good.metadata().at(kChecksumsKey);
  sums.insert(sums.size() - 1, R"(,"c":"fnv1a64w:0000000000000000")");
  const std::string extra = write_two(path_join(dir, "e.safetensors"), false, sums);
  EXPECT_NE(test::error_of([&] { verify_checksums(SafetensorsFile(extra)); }).find("'c', which the file lacks"),
            std::string::npos);
  const std::string junk = write_two(path_join(dir, "j.safetensors"), false, "not json");
  EXPECT_NE(test::error_of([&] { verify_checksums(SafetensorsFile(junk)); }).find("not valid JSON"), std::string::npos);
}

}  // namespace
}  // namespace et
