// GGUF (llama.cpp's model file format), versions 2 and 3, little-endian.
//
// Layout: "GGUF" | u32 version | u64 n_tensors | u64 n_kv | n_kv × (string key, u32 type, value)
//         | n_tensors × (string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset)
//         | padding to `alignment` | data section (each tensor at data_start + offset).
// Strings are u64 length + bytes (no terminator). Arrays are u32 element type + u64 count +
// elements; elements may themselves be arrays. The alignment is the u32 key `general.alignment`
// (a power of two), 32 when absent. `ne` is in ggml order: ne[0] is the contiguous (fastest)
// dimension, so a PyTorch tensor of shape [rows, cols] has ne = [cols, rows].
//
// GgufFile memory-maps the file and validates all of it before use (magic, version, counts,
// string lengths, value types, duplicate keys and tensor names, ggml types, tensor offsets and
// alignment, tensor data inside the file); errors name the file and the key or tensor.
// write_gguf writes metadata of every type and F32/F16/BF16 tensors the way llama.cpp's
// gguf_write does (tensors packed in order, each padded to the alignment), atomically.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "edgetune/core/file_io.h"

namespace et {

// Metadata value types (gguf_type in llama.cpp).
enum class GgufType : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8,
  array = 9, u64 = 10, i64 = 11, f64 = 12,
};
const char* gguf_type_name(GgufType t);  // "u32", "string", "array", ...

// Tensor element types (ggml_type in llama.cpp; ids are part of the file format).
enum class GgmlType : uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
  q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15,
  iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22,
  iq4_xs = 23, i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30,
  tq1_0 = 34, tq2_0 = 35, mxfp4 = 39,
};
// "F32", "Q4_K", ... ; "type<N>" for an id we do not know.
std::string ggml_type_name(GgmlType t);
// Elements per block and bytes per block; false for an unknown id.
bool ggml_type_layout(GgmlType t, uint64_t* block_elems, uint64_t* block_bytes);

// One metadata value. Scalars keep their exact type; an array holds its element type and items
// (items of an array of arrays are arrays).
struct GgufValue {
  GgufType type = GgufType::u8;
  GgufType elem_type = GgufType::u8;  // arrays only
  uint64_t u = 0;                     // u8/u16/u32/u64 and bool (0/1)
  int64_t i = 0;                      // i8/i16/i32/i64
  double f = 0;                       // f32/f64
  std::string str;                    // string
  std::vector<GgufValue> items;       // array

  static GgufValue of_u8(uint8_t v);
  static GgufValue of_i8(int8_t v);
  static GgufValue of_u16(uint16_t v);
  static GgufValue of_i16(int16_t v);
  static GgufValue of_u32(uint32_t v);
  static GgufValue of_i32(int32_t v);
  static GgufValue of_u64(uint64_t v);
  static GgufValue of_i64(int64_t v);
  static GgufValue of_f32(float v);
  static GgufValue of_f64(double v);
  static GgufValue of_bool(bool v);
  static GgufValue of_string(std::string v);
  // An array of `elem` values; every item must have type `elem` (checked by the writer).
  static GgufValue of_array(GgufType elem, std::vector<GgufValue> items);
  static GgufValue of_strings(const std::vector<std::string>& v);
  static GgufValue of_f32s(const std::vector<float>& v);
  static GgufValue of_i32s(const std::vector<int32_t>& v);

  bool is_integer() const;  // any of the eight integer types
  bool is_float() const { return type == GgufType::f32 || type == GgufType::f64; }
  // Short rendering for messages and `inspect`: 42, "text", [3 x string], ...
  std::string to_string() const;
};

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::f32;
  std::vector<uint64_t> ne;  // ggml order, ne[0] contiguous
  uint64_t offset = 0;       // from the start of the data section
  uint64_t nbytes = 0;
  uint64_t numel() const;
  std::string ne_str() const;  // "[64, 172]"
};

class GgufFile {
 public:
  explicit GgufFile(const std::string& path);
  const std::string& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  bool has(const std::string& key) const { return kv_index_.count(key) != 0; }
  // nullptr when absent.
  const GgufValue* find(const std::string& key) const;
  // Throws "[gguf] <file>: missing key '<key>'".
  const GgufValue& get(const std::string& key) const;

  // Typed access; each throws naming the file and the key when the key is missing or has
  // another type. Integers of any integer type convert when the value fits.
  std::string get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  uint64_t get_uint(const std::string& key) const;
  double get_float(const std::string& key) const;  // f32, f64
  bool get_bool(const std::string& key) const;
  std::vector<std::string> get_string_array(const std::string& key) const;
  std::vector<float> get_f32_array(const std::string& key) const;     // f32 (or f64) items
  std::vector<int64_t> get_int_array(const std::string& key) const;   // integer items
  // The same, or nullopt when the key is absent (a present key of the wrong type still throws).
  std::optional<std::string> find_string(const std::string& key) const;
  std::optional<int64_t> find_int(const std::string& key) const;
  std::optional<bool> find_bool(const std::string& key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  const GgufTensorInfo& get_tensor(const std::string& name) const;
  const uint8_t* tensor_data(const GgufTensorInfo& t) const {
    return file_->data() + data_offset_ + t.offset;
  }
  // An F32, F16 or BF16 tensor converted to float32.
  std::vector<float> read_f32(const std::string& name) const;

 private:
  std::shared_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::map<std::string, size_t> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

struct GgufTensorToWrite {
  std::string name;                 // at most 63 bytes (llama.cpp's GGML_MAX_NAME - 1)
  GgmlType type = GgmlType::f32;    // f32, f16 or bf16
  std::vector<uint64_t> ne;         // ggml order; see ne_from_shape
  const void* data = nullptr;
  size_t nbytes = 0;                // must equal numel × element size
};

// ggml `ne` of a row-major (PyTorch) shape: the shape reversed.
std::vector<uint64_t> gguf_ne_from_shape(const std::vector<int64_t>& shape);

// Writes a GGUF v3 file atomically. Metadata keys are written in the given order; the alignment
// is the u32 `general.alignment` when the metadata holds it, otherwise 32 (not written).
// Keys must be unique and non-empty, tensor names unique.
void write_gguf(const std::string& path,
                const std::vector<std::pair<std::string, GgufValue>>& metadata,
                const std::vector<GgufTensorToWrite>& tensors);

}  // namespace et
