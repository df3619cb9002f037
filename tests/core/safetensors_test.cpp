#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/safetensors.h"
#include "test_util.h"

namespace et {
namespace {

std::string write_sample(const std::string& dir, float poison = 0.5f) {
  std::vector<float> a = {1, 2, 3, 4, 5, poison};
  std::vector<uint16_t> b = {f32_to_bf16(1.5f), f32_to_bf16(-2.0f)};
  std::string p = path_join(dir, "x.safetensors");
  write_safetensors(p,
                    {{"a", DType::f32, {2, 3}, a.data(), a.size() * 4},
                     {"b", DType::bf16, {2}, b.data(), b.size() * 2}},
                    {{"format", "pt"}});
  return p;
}

TEST(Safetensors, RoundTrip) {
  auto dir = test::temp_dir("st");
  SafetensorsFile f(write_sample(dir));
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.get("a").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.read_f32("a")[5], 0.5f);
  EXPECT_EQ(f.read_f32("b")[1], -2.0f);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.data(f.get("a"))) % 8, 0u);
}

// Writes raw bytes: 8-byte header length + header + data.
std::string write_raw(const std::string& dir, const std::string& header, size_t data_bytes,
                      int64_t declared_len = -1) {
  std::string p = path_join(dir, "raw.safetensors");
  std::ofstream o(p, std::ios::binary);
  uint64_t n = declared_len >= 0 ? static_cast<uint64_t>(declared_len) : header.size();
  for (int i = 0; i < 8; ++i) o.put(static_cast<char>(n >> (8 * i)));
  o << header << std::string(data_bytes, '\0');
  return p;
}

void expect_safetensors_error(const std::string& path, const std::string& needle) {
  try {
    SafetensorsFile f(path);
    FAIL() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << "names the file: " << e.what();
  }
}

TEST(Safetensors, TruncatedFileIsAnError) {
  auto dir = test::temp_dir("st");
  auto p = write_sample(dir);
  std::string bytes = read_text_file(p);
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 5);
  expect_safetensors_error(p, "run past the end");
}

TEST(Safetensors, OffsetsPastEndNameTheTensor) {
  auto dir = test::temp_dir("st");
  auto p = write_raw(dir, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
  expect_safetensors_error(p, "tensor 'w'");
}

TEST(Safetensors, HeaderLongerThanFile) {
  auto dir = test::temp_dir("st");
  expect_safetensors_error(write_raw(dir, "{}", 0, 1000), "header length 1000");
}

TEST(Safetensors, SizeMustMatchShape) {
  auto dir = test::temp_dir("st");
  auto p = write_raw(dir, R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", 16);
  expect_safetensors_error(p, "needs 12");
}

// A shape whose element count wraps around int64 to the size of the data (2^62 + 1 rows of 128:
// 128 mod 2^64) must not pass for a 128-element tensor: the reader and everything after it would
// take the shape at its word. (The kind of header fuzz/fuzz_safetensors.cpp makes.)
TEST(Safetensors, AShapeWhoseSizeOverflowsIsRefused) {
  auto dir = test::temp_dir("st");
  auto p = write_raw(dir, R"({"w":{"dtype":"F32","shape":[4611686018427387905,128],"data_offsets":[0,512]}})", 512);
  expect_safetensors_error(p, "more elements than a file can hold");
  p = write_raw(dir, R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0);
  expect_safetensors_error(p, "more elements than a file can hold");
}

// A tensor with a zero in its shape reads as no values, in every float dtype.
TEST(Safetensors, ZeroElementTensorReadsAsNoValues) {
  auto dir = test::temp_dir("st");
  for (const char* dtype : {"F32", "F16", "BF16", "F64"}) {
    SCOPED_TRACE(dtype);
    SafetensorsFile f(write_raw(dir, std::string(R"({"e":{"dtype":")") + dtype +
                                        R"(","shape":[0,3],"data_offsets":[0,0]}})",
                                0));
    EXPECT_EQ(f.get("e").numel(), 0);
    EXPECT_TRUE(f.read_f32("e").empty());
  }
}

TEST(Safetensors, BadJsonAndDtype) {
  auto dir = test::temp_dir("st");
  expect_safetensors_error(write_raw(dir, "{not json", 0), "not valid JSON");
  expect_safetensors_error(write_raw(dir, R"({"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,1]}})", 1), "Q9");
}

TEST(Safetensors, MissingTensorAndNaNAreNamed) {
  auto dir = test::temp_dir("st");
  SafetensorsFile f(write_sample(dir, std::numeric_limits<float>::quiet_NaN()));
  try {
    f.get("nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor 'nope'"), std::string::npos);
  }
  try {
    f.read_f32("a");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'a' has a NaN at index 5"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, ShardedIndex) {
  auto dir = test::temp_dir("shard");
  float x = 1, y = 2;
  write_safetensors(path_join(dir, "m-1.safetensors"), {{"x", DType::f32, {1}, &x, 4}});
  write_safetensors(path_join(dir, "m-2.safetensors"), {{"y", DType::f32, {1}, &y, 4}});
  write_file_atomic(path_join(dir, "model.safetensors.index.json"),
                    R"({"weight_map":{"x":"m-1.safetensors","y":"m-2.safetensors"}})");
  SafetensorsSet s(dir);
  EXPECT_EQ(s.read_f32("y")[0], 2.0f);
  EXPECT_EQ(s.names().size(), 2u);
  write_file_atomic(path_join(dir, "model.safetensors.index.json"),
                    R"({"weight_map":{"x":"m-1.safetensors","z":"m-2.safetensors"}})");
  EXPECT_THROW(SafetensorsSet{dir}, Error);
}

TEST(AtomicFile, UncommittedWriteLeavesTargetUntouched) {
  auto dir = test::temp_dir("atomic");
  auto p = path_join(dir, "f.txt");
  write_file_atomic(p, "old");
  {
    AtomicFile f(p);
    f.write("new-partial");
  }  // destroyed without commit
  EXPECT_EQ(read_text_file(p), "old");
  write_file_atomic(p, "new");
  EXPECT_EQ(read_text_file(p), "new");
}

}  // namespace
}  // namespace et
