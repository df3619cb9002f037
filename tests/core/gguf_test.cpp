// GGUF reader/writer: round trips of every value type, the byte layout against a file assembled
// by hand from the format description, llama.cpp's packing rule, a real vocabulary file from
// llama.cpp's repository, and corrupt files (each must fail with an et::Error naming the file).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>

#include "edgetune/core/dtype.h"
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/gguf.h"
#include "test_util.h"

namespace et {
namespace {

std::string slurp(const std::string& path) { return read_text_file(path); }

void dump(const std::string& path, const std::string& bytes) {
  std::ofstream o(path, std::ios::binary);
  o.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Little-endian byte builders for hand-assembled files.
struct Bytes {
  std::string s;
  Bytes& raw(const std::string& x) { s += x; return *this; }
  template <class T>
  Bytes& le(T v) {
    s.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  Bytes& str(const std::string& x) { le<uint64_t>(x.size()); s += x; return *this; }
  Bytes& pad(size_t align) { s.resize((s.size() + align - 1) / align * align, '\0'); return *this; }
};

void expect_gguf_error(const std::string& path, const std::string& needle) {
  try {
    GgufFile f(path);
    FAIL() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << "names the file: " << msg;
  }
}

std::vector<std::pair<std::string, GgufValue>> all_types_metadata() {
  using V = GgufValue;
  return {
      {"general.architecture", V::of_string("llama")},
      {"t.u8", V::of_u8(250)},
      {"t.i8", V::of_i8(-100)},
      {"t.u16", V::of_u16(65000)},
      {"t.i16", V::of_i16(-32000)},
      {"t.u32", V::of_u32(4000000000u)},
      {"t.i32", V::of_i32(-2000000000)},
      {"t.u64", V::of_u64(18000000000000000000ull)},
      {"t.i64", V::of_i64(-9000000000000000000ll)},
      {"t.f32", V::of_f32(0.1f)},
      {"t.f64", V::of_f64(-2.5e300)},
      {"t.bool", V::of_bool(true)},
      {"t.empty_string", V::of_string("")},
      {"t.utf8", V::of_string("h\xC3\xA9llo \xE2\x96\x81 \xF0\x9F\xA6\x99")},
      {"t.strings", V::of_strings({"a", "", "\xE2\x96\x81the"})},
      {"t.floats", V::of_f32s({1.0f, -0.5f, 3.25f})},
      {"t.ints", V::of_i32s({-1, 0, 7})},
      {"t.empty_array", V::of_array(GgufType::u8, {})},
      {"t.bools", V::of_array(GgufType::boolean, {V::of_bool(false), V::of_bool(true)})},
      {"t.nested", V::of_array(GgufType::array, {V::of_i32s({1, 2}), V::of_i32s({}),
                                                 V::of_strings({"x"})})},
  };
}

TEST(Gguf, RoundTripAllValueTypesAndTensors) {
  auto dir = test::temp_dir("gguf");
  std::string p = path_join(dir, "rt.gguf");
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<uint16_t> b = {f32_to_f16(1.5f), f32_to_f16(-2.0f), f32_to_f16(0.25f)};
  std::vector<uint16_t> c = {f32_to_bf16(3.0f)};
  auto md = all_types_metadata();
  write_gguf(p, md,
             {{"a", GgmlType::f32, gguf_ne_from_shape({2, 3}), a.data(), a.size() * 4},
              {"blk.0.attn_q.weight.lora_b", GgmlType::f16, {3}, b.data(), b.size() * 2},
              {"c", GgmlType::bf16, {1, 1, 1, 1}, c.data(), 2}});
  GgufFile f(p);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  ASSERT_EQ(f.metadata().size(), md.size());
  for (size_t i = 0; i < md.size(); ++i) EXPECT_EQ(f.metadata()[i].first, md[i].first);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get("t.u8").type, GgufType::u8);
  EXPECT_EQ(f.get_int("t.u8"), 250);
  EXPECT_EQ(f.get_int("t.i8"), -100);
  EXPECT_EQ(f.get_int("t.u16"), 65000);
  EXPECT_EQ(f.get_int("t.i16"), -32000);
  EXPECT_EQ(f.get_uint("t.u32"), 4000000000u);
  EXPECT_EQ(f.get_int("t.i32"), -2000000000);
  EXPECT_EQ(f.get_uint("t.u64"), 18000000000000000000ull);
  EXPECT_EQ(f.get_int("t.i64"), -9000000000000000000ll);
  EXPECT_EQ(f.get("t.f32").type, GgufType::f32);
  EXPECT_EQ(static_cast<float>(f.get_float("t.f32")), 0.1f);
  EXPECT_EQ(f.get_float("t.f64"), -2.5e300);
  EXPECT_TRUE(f.get_bool("t.bool"));
  EXPECT_EQ(f.get_string("t.empty_string"), "");
  EXPECT_EQ(f.get_string("t.utf8"), "h\xC3\xA9llo \xE2\x96\x81 \xF0\x9F\xA6\x99");
  EXPECT_EQ(f.get_string_array("t.strings"),
            (std::vector<std::string>{"a", "", "\xE2\x96\x81the"}));
  EXPECT_EQ(f.get_f32_array("t.floats"), (std::vector<float>{1.0f, -0.5f, 3.25f}));
  EXPECT_EQ(f.get_int_array("t.ints"), (std::vector<int64_t>{-1, 0, 7}));
  EXPECT_EQ(f.get("t.empty_array").items.size(), 0u);
  EXPECT_EQ(f.get("t.empty_array").elem_type, GgufType::u8);
  ASSERT_EQ(f.get("t.bools").items.size(), 2u);
  EXPECT_EQ(f.get("t.bools").items[1].u, 1u);
  const GgufValue& nested = f.get("t.nested");
  ASSERT_EQ(nested.elem_type, GgufType::array);
  ASSERT_EQ(nested.items.size(), 3u);
  EXPECT_EQ(nested.items[0].items[1].i, 2);
  EXPECT_EQ(nested.items[1].items.size(), 0u);
  EXPECT_EQ(nested.items[2].items[0].str, "x");

  ASSERT_EQ(f.tensors().size(), 3u);
  const auto& ta = f.get_tensor("a");
  EXPECT_EQ(ta.ne, (std::vector<uint64_t>{3, 2}));  // torch [2, 3] -> ne [3, 2]
  EXPECT_EQ(f.read_f32("a"), a);
  EXPECT_EQ(f.read_f32("blk.0.attn_q.weight.lora_b"), (std::vector<float>{1.5f, -2.0f, 0.25f}));
  EXPECT_EQ(f.read_f32("c"), (std::vector<float>{3.0f}));
  EXPECT_EQ(f.get_tensor("c").ne, (std::vector<uint64_t>{1, 1, 1, 1}));
}

// llama.cpp's gguf reader requires tensor i at offset sum_{j<i} pad(nbytes_j, alignment), the
// data section to start at the padded end of the header, and the file to hold the padded data.
void expect_llama_cpp_layout(const GgufFile& f, size_t file_size) {
  uint64_t expected = 0;
  for (const auto& t : f.tensors()) {
    EXPECT_EQ(t.offset, expected) << t.name;
    expected += (t.nbytes + f.alignment() - 1) / f.alignment() * f.alignment();
  }
  EXPECT_EQ(f.data_offset() % f.alignment(), 0u);
  EXPECT_EQ(f.data_offset() + expected, file_size);
}

// A tensor with a zero in its shape holds no data and reads as no values (fuzz/fuzz_gguf.cpp found
// memcpy called with a null destination for it: undefined behaviour, reported by
// scripts/test.sh --sanitize).
TEST(Gguf, ZeroElementTensorReadsAsNoValues) {
  auto dir = test::temp_dir("gguf");
  const std::string p = path_join(dir, "zero.gguf");
  std::vector<float> a = {1.5f, -2};
  for (GgmlType type : {GgmlType::f32, GgmlType::f16, GgmlType::bf16}) {
    SCOPED_TRACE(ggml_type_name(type));
    write_gguf(p, {{"general.architecture", GgufValue::of_string("llama")}},
               {{"empty", type, {4, 0}, nullptr, 0}, {"a", GgmlType::f32, {2}, a.data(), 8}});
    GgufFile f(p);
    EXPECT_EQ(f.get_tensor("empty").numel(), 0u);
    EXPECT_TRUE(f.read_f32("empty").empty());
    EXPECT_EQ(f.read_f32("a"), a);
  }
}

TEST(Gguf, WriterPacksTensorsLikeLlamaCpp) {
  auto dir = test::temp_dir("gguf");
  for (uint32_t align : {32u, 64u, 8u}) {
    std::string p = path_join(dir, "pack" + std::to_string(align) + ".gguf");
    std::vector<float> x(7, 1.0f), y(33, 2.0f), z(1, 3.0f);
    std::vector<std::pair<std::string, GgufValue>> md = {{"general.type", GgufValue::of_string("adapter")}};
    if (align != 32) md.push_back({"general.alignment", GgufValue::of_u32(align)});
    write_gguf(p, md,
               {{"x", GgmlType::f32, {7}, x.data(), 28},
                {"y", GgmlType::f32, {11, 3}, y.data(), 132},
                {"z", GgmlType::f32, {1}, z.data(), 4}});
    GgufFile f(p);
    EXPECT_EQ(f.alignment(), align);
    expect_llama_cpp_layout(f, slurp(p).size());
    EXPECT_EQ(f.read_f32("y")[32], 2.0f);
  }
}

// The exact bytes of a small file, assembled from the format description (not by the writer).
TEST(Gguf, WriterBytesMatchTheSpecification) {
  auto dir = test::temp_dir("gguf");
  std::string p = path_join(dir, "spec.gguf");
  std::vector<float> w = {0.5f, -1.0f};
  write_gguf(p,
             {{"general.architecture", GgufValue::of_string("llama")},
              {"adapter.lora.alpha", GgufValue::of_f32(16.0f)},
              {"x.list", GgufValue::of_array(GgufType::u16, {GgufValue::of_u16(7)})}},
             {{"w", GgmlType::f32, {2, 1}, w.data(), 8}});
  Bytes e;
  e.raw("GGUF").le<uint32_t>(3).le<uint64_t>(1).le<uint64_t>(3);
  e.str("general.architecture").le<uint32_t>(8).str("llama");
  e.str("adapter.lora.alpha").le<uint32_t>(6).le<float>(16.0f);
  e.str("x.list").le<uint32_t>(9).le<uint32_t>(2).le<uint64_t>(1).le<uint16_t>(7);
  e.str("w").le<uint32_t>(2).le<uint64_t>(2).le<uint64_t>(1).le<uint32_t>(0).le<uint64_t>(0);
  e.pad(32).le<float>(0.5f).le<float>(-1.0f).pad(32);
  EXPECT_EQ(slurp(p), e.s);
}

TEST(Gguf, ReadsHandAssembledVersion2File) {
  auto dir = test::temp_dir("gguf");
  Bytes e;
  e.raw("GGUF").le<uint32_t>(2).le<uint64_t>(1).le<uint64_t>(2);
  e.str("general.alignment").le<uint32_t>(4).le<uint32_t>(16);
  e.str("k").le<uint32_t>(10).le<uint64_t>(5);
  e.str("t").le<uint32_t>(1).le<uint64_t>(3).le<uint32_t>(1).le<uint64_t>(0);
  e.pad(16).le<uint16_t>(f32_to_f16(1.0f)).le<uint16_t>(f32_to_f16(2.0f)).le<uint16_t>(f32_to_f16(-4.0f));
  std::string p = path_join(dir, "v2.gguf");
  dump(p, e.s);
  GgufFile f(p);
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.alignment(), 16u);
  EXPECT_EQ(f.get_uint("k"), 5u);
  EXPECT_EQ(f.data_offset() % 16, 0u);
  EXPECT_EQ(f.read_f32("t"), (std::vector<float>{1.0f, 2.0f, -4.0f}));
}

TEST(Gguf, ReadsLlamaCppVocabularyFile) {
  ET_REQUIRE_SHARED(p, "tokenizers/gguf-vocab/ggml-vocab-llama-spm.gguf");
  GgufFile f(p);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
  auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 32000u);  // Llama 2's vocabulary
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[2], "</s>");
  EXPECT_EQ(tokens[3], "<0x00>");
  EXPECT_EQ(f.get_f32_array("tokenizer.ggml.scores").size(), 32000u);
  EXPECT_EQ(f.get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(f.get_int("tokenizer.ggml.eos_token_id"), 2);
  EXPECT_TRUE(f.tensors().empty());
  // Wrong-type access names the key.
  try {
    f.get_string("tokenizer.ggml.bos_token_id");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.ggml.bos_token_id"), std::string::npos);
  }
}

std::string small_valid_file(const std::string& dir) {
  std::string p = path_join(dir, "ok.gguf");
  std::vector<float> w = {1, 2, 3, 4};
  write_gguf(p,
             {{"general.architecture", GgufValue::of_string("llama")},
              {"a.list", GgufValue::of_strings({"x", "yy"})}},
             {{"w", GgmlType::f32, {4}, w.data(), 16}});
  return p;
}

TEST(Gguf, EveryTruncationIsAnError) {
  auto dir = test::temp_dir("gguf");
  std::string full = slurp(small_valid_file(dir));
  std::string p = path_join(dir, "cut.gguf");
  for (size_t n = 0; n < full.size() - 16; ++n) {  // cutting into the last tensor's padding is fine
    dump(p, full.substr(0, n));
    EXPECT_THROW(GgufFile f(p), Error) << "prefix of " << n << " bytes";
  }
}

TEST(Gguf, RandomCorruptionNeverCrashes) {
  auto dir = test::temp_dir("gguf");
  std::string full = slurp(small_valid_file(dir));
  std::string p = path_join(dir, "flip.gguf");
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string bad = full;
    int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) bad[rng() % bad.size()] = static_cast<char>(rng());
    dump(p, bad);
    try {
      GgufFile f(p);
      for (const auto& t : f.tensors()) (void)f.tensor_data(t);
    } catch (const Error&) {
    }
  }
}

TEST(Gguf, CorruptHeadersNameTheProblem) {
  auto dir = test::temp_dir("gguf");
  auto write = [&](const std::string& name, const Bytes& b) {
    std::string p = path_join(dir, name);
    dump(p, b.s);
    return p;
  };
  auto header = [](uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    Bytes b;
    b.raw("GGUF").le<uint32_t>(version).le<uint64_t>(n_tensors).le<uint64_t>(n_kv);
    return b;
  };
  expect_gguf_error(write("magic.gguf", Bytes().raw("GGML").le<uint32_t>(3).le<uint64_t>(0).le<uint64_t>(0)),
               "not a GGUF file");
  expect_gguf_error(write("v1.gguf", header(1, 0, 0)), "version 1");
  expect_gguf_error(write("v9.gguf", header(9, 0, 0)), "unsupported GGUF version 9");
  expect_gguf_error(write("be.gguf", header(0x03000000, 0, 0)), "big-endian");
  expect_gguf_error(write("nkv.gguf", header(3, 0, 1000000)), "metadata count 1000000");
  expect_gguf_error(write("nt.gguf", header(3, 1000000, 0)), "tensor count 1000000");
  {
    Bytes b = header(3, 0, 1);
    b.le<uint64_t>(1ull << 40).raw(std::string(32, 'k'));
    expect_gguf_error(write("keylen.gguf", b), "string length");
  }
  {
    Bytes b = header(3, 0, 1);
    b.str("my.key").le<uint32_t>(13).le<uint32_t>(0);
    expect_gguf_error(write("type.gguf", b), "key 'my.key' has unknown value type 13");
  }
  {
    Bytes b = header(3, 0, 1);
    b.str("my.list").le<uint32_t>(9).le<uint32_t>(8).le<uint64_t>(1ull << 50);
    expect_gguf_error(write("arr.gguf", b), "key 'my.list'");
  }
  {
    Bytes b = header(3, 0, 1);
    b.str("my.flag").le<uint32_t>(7).le<uint8_t>(7);
    expect_gguf_error(write("bool.gguf", b), "bool value is 7");
  }
  {
    Bytes b = header(3, 0, 2);
    b.str("dup").le<uint32_t>(4).le<uint32_t>(1).str("dup").le<uint32_t>(4).le<uint32_t>(2);
    expect_gguf_error(write("dupkey.gguf", b), "duplicate key 'dup'");
  }
  {
    Bytes b = header(3, 0, 1);
    b.str("general.alignment").le<uint32_t>(4).le<uint32_t>(24);
    expect_gguf_error(write("align.gguf", b), "not a power of two");
  }
  {
    Bytes b = header(3, 0, 1);
    b.str("general.alignment").le<uint32_t>(10).le<uint64_t>(32);
    expect_gguf_error(write("aligntype.gguf", b), "expected u32");
  }
  auto one_tensor = [&](uint32_t n_dims, std::vector<uint64_t> ne, uint32_t type, uint64_t offset,
                        size_t data_bytes) {
    Bytes b = header(3, 1, 0);
    b.str("blk.0.w").le<uint32_t>(n_dims);
    for (auto d : ne) b.le<uint64_t>(d);
    b.le<uint32_t>(type).le<uint64_t>(offset).pad(32);
    b.s.append(data_bytes, '\0');
    return b;
  };
  expect_gguf_error(write("dims.gguf", one_tensor(5, {1, 1, 1, 1, 1}, 0, 0, 4)),
               "tensor 'blk.0.w' has 5 dimensions");
  expect_gguf_error(write("ggml.gguf", one_tensor(1, {4}, 99, 0, 16)), "unknown ggml type 99");
  expect_gguf_error(write("block.gguf", one_tensor(1, {33}, 2, 0, 64)), "not a multiple of the block size 32");
  expect_gguf_error(write("off.gguf", one_tensor(1, {4}, 0, 8, 64)), "not a multiple of the alignment");
  expect_gguf_error(write("past.gguf", one_tensor(1, {4}, 0, 0, 15)), "runs past the end of the file");
  expect_gguf_error(write("neg.gguf", one_tensor(2, {4, ~0ull}, 0, 0, 16)), "negative or huge dimension");
  {
    Bytes b = header(3, 2, 0);
    b.str("a").le<uint32_t>(1).le<uint64_t>(16).le<uint32_t>(0).le<uint64_t>(0);
    b.str("b").le<uint32_t>(1).le<uint64_t>(4).le<uint32_t>(0).le<uint64_t>(32);
    b.pad(32).s.append(64, '\0');
    expect_gguf_error(write("overlap.gguf", b), "overlap");
  }
  {
    Bytes b = header(3, 2, 0);
    b.str("a").le<uint32_t>(1).le<uint64_t>(4).le<uint32_t>(0).le<uint64_t>(0);
    b.str("a").le<uint32_t>(1).le<uint64_t>(4).le<uint32_t>(0).le<uint64_t>(32);
    b.pad(32).s.append(64, '\0');
    expect_gguf_error(write("duptensor.gguf", b), "duplicate tensor 'a'");
  }
  {
    Bytes b = header(3, 1, 0);
    b.str(std::string(64, 'n')).le<uint32_t>(1).le<uint64_t>(4).le<uint32_t>(0).le<uint64_t>(0);
    b.pad(32).s.append(16, '\0');
    expect_gguf_error(write("longname.gguf", b), "name is 64 bytes");
  }
}

TEST(Gguf, WriterRejectsBadInputAndLeavesNoFile) {
  auto dir = test::temp_dir("gguf");
  std::string p = path_join(dir, "bad.gguf");
  std::vector<float> w(4, 0.0f);
  auto expect_write_error = [&](const std::vector<std::pair<std::string, GgufValue>>& md,
                                const std::vector<GgufTensorToWrite>& ts, const std::string& needle) {
    try {
      write_gguf(p, md, ts);
      FAIL() << "expected an error containing '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    EXPECT_FALSE(file_exists(p));
  };
  expect_write_error({{"k", GgufValue::of_u8(1)}, {"k", GgufValue::of_u8(2)}}, {}, "duplicate metadata key 'k'");
  expect_write_error({{"k", GgufValue::of_array(GgufType::u32, {GgufValue::of_string("x")})}}, {},
                     "key 'k': array of u32 holds an item of type string");
  expect_write_error({{"general.alignment", GgufValue::of_u32(3)}}, {}, "not a power of two");
  expect_write_error({}, {{"w", GgmlType::q4_0, {32}, w.data(), 18}}, "takes F32, F16, BF16");
  expect_write_error({}, {{"w", GgmlType::f32, {5}, w.data(), 16}}, "needs 20 bytes, got 16");
  expect_write_error({}, {{"w", GgmlType::f32, {4}, w.data(), 16}, {"w", GgmlType::f32, {4}, w.data(), 16}},
                     "duplicate tensor 'w'");
  expect_write_error({}, {{std::string(64, 'x'), GgmlType::f32, {4}, w.data(), 16}}, "name is 64 bytes");
}

TEST(Gguf, TypeNamesAndLayouts) {
  uint64_t e = 0, b = 0;
  ASSERT_TRUE(ggml_type_layout(GgmlType::q4_k, &e, &b));
  EXPECT_EQ(e, 256u);
  EXPECT_EQ(b, 144u);  // 2 fp16 + 12 scale bytes + 128 nibble bytes
  ASSERT_TRUE(ggml_type_layout(GgmlType::q8_0, &e, &b));
  EXPECT_EQ(b, 34u);   // fp16 scale + 32 int8
  EXPECT_EQ(ggml_type_name(GgmlType::bf16), "BF16");
  EXPECT_FALSE(ggml_type_layout(static_cast<GgmlType>(4), &e, &b));  // removed Q4_2
}

}  // namespace
}  // namespace et
