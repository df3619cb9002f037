// GGUF reader (validating, memory-mapped) and writer. The format rules follow llama.cpp's
// ggml/src/gguf.cpp: little-endian, u64 lengths and counts (v2, v3), tensor offsets relative to
// the aligned start of the data section, each a multiple of the alignment; the writer packs the
// tensors in order and pads every one (the last included) to the alignment, as gguf_write does.
#include "edgetune/core/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "edgetune/core/dtype.h"
#include "edgetune/core/error.h"

namespace et {

namespace {

constexpr uint64_t kDefaultAlignment = 32;
constexpr size_t kMaxNameBytes = 63;  // llama.cpp: GGML_MAX_NAME (64) including the terminator
constexpr uint32_t kMaxDims = 4;      // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 16;

bool valid_type_id(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::f64); }

// Size in bytes of a scalar value type; 0 for string and array.
size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::u8: case GgufType::i8: case GgufType::boolean: return 1;
    case GgufType::u16: case GgufType::i16: return 2;
    case GgufType::u32: case GgufType::i32: case GgufType::f32: return 4;
    case GgufType::u64: case GgufType::i64: case GgufType::f64: return 8;
    default: return 0;
  }
}

// The fewest bytes one value of type t can take in a file (bounds the counts we accept).
size_t min_encoded_size(GgufType t) {
  if (t == GgufType::string) return 8;
  if (t == GgufType::array) return 12;
  return scalar_size(t);
}

uint64_t pad_to(uint64_t x, uint64_t align) { return (x + align - 1) / align * align; }

// Bounds-checked little-endian reads over the mapped file.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& path)
      : p_(data), size_(size), path_(path) {}
  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }

  template <class T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const std::string& what) {
    uint64_t n = read<uint64_t>(what + " (string length)");
    if (n > left())
      fail("gguf", path_, ": ", what, ": string length ", n, " runs past the end of the file (",
           left(), " bytes left; truncated or corrupt)");
    std::string s(reinterpret_cast<const char*>(p_ + pos_), n);
    pos_ += n;
    return s;
  }
  void need(size_t n, const std::string& what) {
    if (n > left())
      fail("gguf", path_, ": ", what, ": needs ", n, " bytes at offset ", pos_, ", only ", left(),
           " left (truncated?)");
  }

 private:
  const uint8_t* p_;
  size_t size_, pos_ = 0;
  const std::string& path_;
};

GgufValue read_value(Cursor& c, GgufType type, const std::string& what, const std::string& path,
                     int depth) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case GgufType::u8: v.u = c.read<uint8_t>(what); break;
    case GgufType::u16: v.u = c.read<uint16_t>(what); break;
    case GgufType::u32: v.u = c.read<uint32_t>(what); break;
    case GgufType::u64: v.u = c.read<uint64_t>(what); break;
    case GgufType::i8: v.i = c.read<int8_t>(what); break;
    case GgufType::i16: v.i = c.read<int16_t>(what); break;
    case GgufType::i32: v.i = c.read<int32_t>(what); break;
    case GgufType::i64: v.i = c.read<int64_t>(what); break;
    case GgufType::f32: v.f = c.read<float>(what); break;
    case GgufType::f64: v.f = c.read<double>(what); break;
    case GgufType::boolean: {
      uint8_t b = c.read<uint8_t>(what);
      if (b > 1) fail("gguf", path, ": ", what, ": bool value is ", int(b), ", not 0 or 1");
      v.u = b;
      break;
    }
    case GgufType::string: v.str = c.read_string(what); break;
    case GgufType::array: {
      if (depth >= kMaxArrayDepth)
        fail("gguf", path, ": ", what, ": arrays nested deeper than ", kMaxArrayDepth);
      uint32_t et = c.read<uint32_t>(what + " (array element type)");
      if (!valid_type_id(et)) fail("gguf", path, ": ", what, ": unknown array element type ", et);
      v.elem_type = static_cast<GgufType>(et);
      uint64_t n = c.read<uint64_t>(what + " (array length)");
      if (n > c.left() / min_encoded_size(v.elem_type))
        fail("gguf", path, ": ", what, ": array of ", n, " ", gguf_type_name(v.elem_type),
             " cannot fit in the ", c.left(), " bytes left (truncated or corrupt)");
      v.items.reserve(n);
      for (uint64_t k = 0; k < n; ++k)
        v.items.push_back(read_value(c, v.elem_type, what, path, depth + 1));
      break;
    }
  }
  return v;
}

void append_raw(std::string& out, const void* p, size_t n) {
  out.append(static_cast<const char*>(p), n);
}
template <class T>
void append_le(std::string& out, T v) {
  append_raw(out, &v, sizeof(T));
}
void append_string(std::string& out, const std::string& s) {
  append_le<uint64_t>(out, s.size());
  out += s;
}

void write_value(std::string& out, const GgufValue& v, const std::string& key, int depth) {
  switch (v.type) {
    case GgufType::u8: append_le<uint8_t>(out, static_cast<uint8_t>(v.u)); break;
    case GgufType::u16: append_le<uint16_t>(out, static_cast<uint16_t>(v.u)); break;
    case GgufType::u32: append_le<uint32_t>(out, static_cast<uint32_t>(v.u)); break;
    case GgufType::u64: append_le<uint64_t>(out, v.u); break;
    case GgufType::i8: append_le<int8_t>(out, static_cast<int8_t>(v.i)); break;
    case GgufType::i16: append_le<int16_t>(out, static_cast<int16_t>(v.i)); break;
    case GgufType::i32: append_le<int32_t>(out, static_cast<int32_t>(v.i)); break;
    case GgufType::i64: append_le<int64_t>(out, v.i); break;
    case GgufType::f32: append_le<float>(out, static_cast<float>(v.f)); break;
    case GgufType::f64: append_le<double>(out, v.f); break;
    case GgufType::boolean: append_le<uint8_t>(out, v.u ? 1 : 0); break;
    case GgufType::string: append_string(out, v.str); break;
    case GgufType::array:
      if (depth >= kMaxArrayDepth)
        fail("gguf_write", "key '", key, "': arrays nested deeper than ", kMaxArrayDepth);
      append_le<uint32_t>(out, static_cast<uint32_t>(v.elem_type));
      append_le<uint64_t>(out, v.items.size());
      for (const auto& item : v.items) {
        if (item.type != v.elem_type)
          fail("gguf_write", "key '", key, "': array of ", gguf_type_name(v.elem_type),
               " holds an item of type ", gguf_type_name(item.type));
        write_value(out, item, key, depth + 1);
      }
      break;
    default:
      fail("gguf_write", "key '", key, "': unknown value type ", static_cast<uint32_t>(v.type));
  }
}

bool is_power_of_two(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

}  // namespace

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::u8: return "u8";
    case GgufType::i8: return "i8";
    case GgufType::u16: return "u16";
    case GgufType::i16: return "i16";
    case GgufType::u32: return "u32";
    case GgufType::i32: return "i32";
    case GgufType::f32: return "f32";
    case GgufType::boolean: return "bool";
    case GgufType::string: return "string";
    case GgufType::array: return "array";
    case GgufType::u64: return "u64";
    case GgufType::i64: return "i64";
    case GgufType::f64: return "f64";
  }
  return "unknown";
}

bool ggml_type_layout(GgmlType t, uint64_t* block_elems, uint64_t* block_bytes) {
  struct L { uint32_t id; uint64_t elems, bytes; };
  // Block sizes of ggml's type_traits (ggml.c); QK_K = 256.
  static const L table[] = {
      {0, 1, 4},      {1, 1, 2},      {2, 32, 18},    {3, 32, 20},    {6, 32, 22},
      {7, 32, 24},    {8, 32, 34},    {9, 32, 36},    {10, 256, 84},  {11, 256, 110},
      {12, 256, 144}, {13, 256, 176}, {14, 256, 210}, {15, 256, 292}, {16, 256, 66},
      {17, 256, 74},  {18, 256, 98},  {19, 256, 50},  {20, 32, 18},   {21, 256, 110},
      {22, 256, 82},  {23, 256, 136}, {24, 1, 1},     {25, 1, 2},     {26, 1, 4},
      {27, 1, 8},     {28, 1, 8},     {29, 256, 56},  {30, 1, 2},     {34, 256, 54},
      {35, 256, 66},  {39, 32, 17},
  };
  for (const auto& l : table) {
    if (l.id == static_cast<uint32_t>(t)) {
      *block_elems = l.elems;
      *block_bytes = l.bytes;
      return true;
    }
  }
  return false;
}

std::string ggml_type_name(GgmlType t) {
  static const std::map<uint32_t, const char*> names = {
      {0, "F32"},      {1, "F16"},     {2, "Q4_0"},    {3, "Q4_1"},     {6, "Q5_0"},
      {7, "Q5_1"},     {8, "Q8_0"},    {9, "Q8_1"},    {10, "Q2_K"},    {11, "Q3_K"},
      {12, "Q4_K"},    {13, "Q5_K"},   {14, "Q6_K"},   {15, "Q8_K"},    {16, "IQ2_XXS"},
      {17, "IQ2_XS"},  {18, "IQ3_XXS"}, {19, "IQ1_S"}, {20, "IQ4_NL"},  {21, "IQ3_S"},
      {22, "IQ2_S"},   {23, "IQ4_XS"}, {24, "I8"},     {25, "I16"},     {26, "I32"},
      {27, "I64"},     {28, "F64"},    {29, "IQ1_M"},  {30, "BF16"},    {34, "TQ1_0"},
      {35, "TQ2_0"},   {39, "MXFP4"},
  };
  auto it = names.find(static_cast<uint32_t>(t));
  return it != names.end() ? it->second : "type" + std::to_string(static_cast<uint32_t>(t));
}

// --- GgufValue ------------------------------------------------------------------------------

GgufValue GgufValue::of_u8(uint8_t v) { GgufValue x; x.type = GgufType::u8; x.u = v; return x; }
GgufValue GgufValue::of_i8(int8_t v) { GgufValue x; x.type = GgufType::i8; x.i = v; return x; }
GgufValue GgufValue::of_u16(uint16_t v) { GgufValue x; x.type = GgufType::u16; x.u = v; return x; }
GgufValue GgufValue::of_i16(int16_t v) { GgufValue x; x.type = GgufType::i16; x.i = v; return x; }
GgufValue GgufValue::of_u32(uint32_t v) { GgufValue x; x.type = GgufType::u32; x.u = v; return x; }
GgufValue GgufValue::of_i32(int32_t v) { GgufValue x; x.type = GgufType::i32; x.i = v; return x; }
GgufValue GgufValue::of_u64(uint64_t v) { GgufValue x; x.type = GgufType::u64; x.u = v; return x; }
GgufValue GgufValue::of_i64(int64_t v) { GgufValue x; x.type = GgufType::i64; x.i = v; return x; }
GgufValue GgufValue::of_f32(float v) { GgufValue x; x.type = GgufType::f32; x.f = v; return x; }
GgufValue GgufValue::of_f64(double v) { GgufValue x; x.type = GgufType::f64; x.f = v; return x; }
GgufValue GgufValue::of_bool(bool v) {
  GgufValue x;
  x.type = GgufType::boolean;
  x.u = v ? 1 : 0;
  return x;
}
GgufValue GgufValue::of_string(std::string v) {
  GgufValue x;
  x.type = GgufType::string;
  x.str = std::move(v);
  return x;
}
GgufValue GgufValue::of_array(GgufType elem, std::vector<GgufValue> items) {
  GgufValue x;
  x.type = GgufType::array;
  x.elem_type = elem;
  x.items = std::move(items);
  return x;
}
GgufValue GgufValue::of_strings(const std::vector<std::string>& v) {
  std::vector<GgufValue> items;
  items.reserve(v.size());
  for (const auto& s : v) items.push_back(of_string(s));
  return of_array(GgufType::string, std::move(items));
}
GgufValue GgufValue::of_f32s(const std::vector<float>& v) {
  std::vector<GgufValue> items;
  items.reserve(v.size());
  for (float f : v) items.push_back(of_f32(f));
  return of_array(GgufType::f32, std::move(items));
}
GgufValue GgufValue::of_i32s(const std::vector<int32_t>& v) {
  std::vector<GgufValue> items;
  items.reserve(v.size());
  for (int32_t i : v) items.push_back(of_i32(i));
  return of_array(GgufType::i32, std::move(items));
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::u8: case GgufType::i8: case GgufType::u16: case GgufType::i16:
    case GgufType::u32: case GgufType::i32: case GgufType::u64: case GgufType::i64:
      return true;
    default:
      return false;
  }
}

std::string GgufValue::to_string() const {
  switch (type) {
    case GgufType::u8: case GgufType::u16: case GgufType::u32: case GgufType::u64:
      return std::to_string(u);
    case GgufType::i8: case GgufType::i16: case GgufType::i32: case GgufType::i64:
      return std::to_string(i);
    case GgufType::f32: case GgufType::f64: return cat(f);
    case GgufType::boolean: return u ? "true" : "false";
    case GgufType::string: {
      std::string s = str.size() > 60 ? str.substr(0, 57) + "..." : str;
      return "\"" + s + "\"";
    }
    case GgufType::array: return cat("[", items.size(), " x ", gguf_type_name(elem_type), "]");
  }
  return "?";
}

// --- GgufTensorInfo -------------------------------------------------------------------------

uint64_t GgufTensorInfo::numel() const {
  uint64_t n = 1;
  for (auto d : ne) n *= d;
  return n;
}

std::string GgufTensorInfo::ne_str() const {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

// --- reader ---------------------------------------------------------------------------------

GgufFile::GgufFile(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
  const size_t size = file_->size();
  Cursor c(file_->data(), size, file_->path());
  if (size < 4) fail("gguf", path, ": file is ", size, " bytes, too short for a GGUF header");
  if (std::memcmp(file_->data(), "GGUF", 4) != 0)
    fail("gguf", path, ": not a GGUF file (the first 4 bytes are not \"GGUF\")");
  c.read<uint32_t>("magic");
  version_ = c.read<uint32_t>("version");
  if (version_ == 1) fail("gguf", path, ": GGUF version 1 is not supported (only 2 and 3)");
  if (version_ != 2 && version_ != 3) {
    if ((version_ & 0xFFFF) == 0 && (version_ >> 16) != 0)
      fail("gguf", path, ": big-endian GGUF files are not supported");
    fail("gguf", path, ": unsupported GGUF version ", version_, " (only 2 and 3)");
  }
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  if (n_kv > c.left() / 13)
    fail("gguf", path, ": metadata count ", n_kv, " cannot fit in a ", size,
         "-byte file (corrupt header)");

  kv_.reserve(n_kv);
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key = c.read_string(cat("metadata entry ", k, " key"));
    const std::string what = "key '" + key + "'";
    if (key.empty()) fail("gguf", path, ": metadata entry ", k, " has an empty key");
    if (kv_index_.count(key)) fail("gguf", path, ": duplicate ", what);
    uint32_t t = c.read<uint32_t>(what + " type");
    if (!valid_type_id(t)) fail("gguf", path, ": ", what, " has unknown value type ", t);
    GgufValue v = read_value(c, static_cast<GgufType>(t), what, path, 0);
    kv_index_[key] = kv_.size();
    kv_.emplace_back(std::move(key), std::move(v));
  }

  if (const GgufValue* a = find("general.alignment")) {
    if (a->type != GgufType::u32)
      fail("gguf", path, ": key 'general.alignment' has type ", gguf_type_name(a->type),
           ", expected u32");
    if (!is_power_of_two(a->u))
      fail("gguf", path, ": key 'general.alignment' is ", a->u, ", not a power of two");
    alignment_ = a->u;
  }

  if (n_tensors > c.left() / 24)
    fail("gguf", path, ": tensor count ", n_tensors, " cannot fit in a ", size,
         "-byte file (corrupt header)");
  tensors_.reserve(n_tensors);
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo t;
    t.name = c.read_string(cat("tensor ", k, " name"));
    const std::string what = "tensor '" + t.name + "'";
    if (t.name.empty()) fail("gguf", path, ": tensor ", k, " has an empty name");
    if (t.name.size() > kMaxNameBytes)
      fail("gguf", path, ": ", what, ": name is ", t.name.size(), " bytes, llama.cpp allows ",
           kMaxNameBytes);
    if (tensor_index_.count(t.name)) fail("gguf", path, ": duplicate ", what);
    uint32_t n_dims = c.read<uint32_t>(what + " dimension count");
    if (n_dims > kMaxDims)
      fail("gguf", path, ": ", what, " has ", n_dims, " dimensions, at most ", kMaxDims);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t n = c.read<uint64_t>(what + " shape");
      if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail("gguf", path, ": ", what, " has a negative or huge dimension ", n);
      if (n != 0 && numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / n)
        fail("gguf", path, ": ", what, " element count overflows");
      numel *= n;
      t.ne.push_back(n);
    }
    uint32_t type = c.read<uint32_t>(what + " type");
    t.type = static_cast<GgmlType>(type);
    uint64_t block_elems = 0, block_bytes = 0;
    if (!ggml_type_layout(t.type, &block_elems, &block_bytes))
      fail("gguf", path, ": ", what, " has unknown ggml type ", type);
    const uint64_t ne0 = t.ne.empty() ? 1 : t.ne[0];
    if (ne0 % block_elems != 0)
      fail("gguf", path, ": ", what, " of type ", ggml_type_name(t.type), " has ne[0] = ", ne0,
           ", not a multiple of the block size ", block_elems);
    if (numel / block_elems > std::numeric_limits<uint64_t>::max() / block_bytes)
      fail("gguf", path, ": ", what, " byte size overflows");
    t.nbytes = numel / block_elems * block_bytes;
    t.offset = c.read<uint64_t>(what + " offset");
    if (t.offset % alignment_ != 0)
      fail("gguf", path, ": ", what, " offset ", t.offset, " is not a multiple of the alignment ",
           alignment_);
    tensor_index_[t.name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }

  data_offset_ = pad_to(c.pos(), alignment_);
  if (!tensors_.empty() && data_offset_ > size)
    fail("gguf", path, ": data section starts at ", data_offset_, ", past the end of the ", size,
         "-byte file (truncated?)");
  const uint64_t data_size = data_offset_ <= size ? size - data_offset_ : 0;
  for (const auto& t : tensors_) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      fail("gguf", path, ": tensor '", t.name, "' (", ggml_type_name(t.type), " ", t.ne_str(),
           ", ", t.nbytes, " bytes at offset ", t.offset, ") runs past the end of the file (data "
           "section holds ", data_size, " bytes; truncated?)");
  }
  std::vector<const GgufTensorInfo*> by_offset;
  for (const auto& t : tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); ++k) {
    const GgufTensorInfo* a = by_offset[k - 1];
    const GgufTensorInfo* b = by_offset[k];
    if (a->offset + a->nbytes > b->offset)
      fail("gguf", path, ": tensors '", a->name, "' and '", b->name, "' overlap");
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const GgufValue& GgufFile::get(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) fail("gguf", path(), ": missing key '", key, "'");
  return *v;
}

namespace {
[[noreturn]] void wrong_type(const std::string& path, const std::string& key, const GgufValue& v,
                             const char* expected) {
  std::string got = gguf_type_name(v.type);
  if (v.type == GgufType::array) got = cat("array of ", gguf_type_name(v.elem_type));
  fail("gguf", path, ": key '", key, "' has type ", got, ", expected ", expected);
}

int64_t as_int(const std::string& path, const std::string& key, const GgufValue& v) {
  if (!v.is_integer()) wrong_type(path, key, v, "an integer");
  switch (v.type) {
    case GgufType::i8: case GgufType::i16: case GgufType::i32: case GgufType::i64: return v.i;
    default:
      if (v.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail("gguf", path, ": key '", key, "' value ", v.u, " does not fit in int64");
      return static_cast<int64_t>(v.u);
  }
}
}  // namespace

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.type != GgufType::string) wrong_type(path(), key, v, "string");
  return v.str;
}

int64_t GgufFile::get_int(const std::string& key) const { return as_int(path(), key, get(key)); }

uint64_t GgufFile::get_uint(const std::string& key) const {
  const GgufValue& v = get(key);
  if (!v.is_integer()) wrong_type(path(), key, v, "an integer");
  if (v.type == GgufType::i8 || v.type == GgufType::i16 || v.type == GgufType::i32 ||
      v.type == GgufType::i64) {
    if (v.i < 0) fail("gguf", path(), ": key '", key, "' is ", v.i, ", expected non-negative");
    return static_cast<uint64_t>(v.i);
  }
  return v.u;
}

double GgufFile::get_float(const std::string& key) const {
  const GgufValue& v = get(key);
  if (!v.is_float()) wrong_type(path(), key, v, "f32 or f64");
  return v.f;
}

bool GgufFile::get_bool(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.type != GgufType::boolean) wrong_type(path(), key, v, "bool");
  return v.u != 0;
}

std::vector<std::string> GgufFile::get_string_array(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.type != GgufType::array || v.elem_type != GgufType::string)
    wrong_type(path(), key, v, "array of string");
  std::vector<std::string> out;
  out.reserve(v.items.size());
  for (const auto& item : v.items) out.push_back(item.str);
  return out;
}

std::vector<float> GgufFile::get_f32_array(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.type != GgufType::array || (v.elem_type != GgufType::f32 && v.elem_type != GgufType::f64))
    wrong_type(path(), key, v, "array of f32");
  std::vector<float> out;
  out.reserve(v.items.size());
  for (const auto& item : v.items) out.push_back(static_cast<float>(item.f));
  return out;
}

std::vector<int64_t> GgufFile::get_int_array(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.type != GgufType::array) wrong_type(path(), key, v, "array of integers");
  GgufValue probe;
  probe.type = v.elem_type;
  if (!probe.is_integer()) wrong_type(path(), key, v, "array of integers");
  std::vector<int64_t> out;
  out.reserve(v.items.size());
  for (const auto& item : v.items) out.push_back(as_int(path(), key, item));
  return out;
}

std::optional<std::string> GgufFile::find_string(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_string(key);
}
std::optional<int64_t> GgufFile::find_int(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_int(key);
}
std::optional<bool> GgufFile::find_bool(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_bool(key);
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensorInfo& GgufFile::get_tensor(const std::string& name) const {
  const GgufTensorInfo* t = find_tensor(name);
  if (!t) fail("gguf", path(), ": missing tensor '", name, "'");
  return *t;
}

std::vector<float> GgufFile::read_f32(const std::string& name) const {
  const GgufTensorInfo& t = get_tensor(name);
  DType dt;
  switch (t.type) {
    case GgmlType::f32: dt = DType::f32; break;
    case GgmlType::f16: dt = DType::f16; break;
    case GgmlType::bf16: dt = DType::bf16; break;
    default:
      fail("gguf", path(), ": tensor '", name, "' has type ", ggml_type_name(t.type),
           "; only F32, F16 and BF16 convert to float32");
  }
  std::vector<float> out(t.numel());
  convert_to_f32(dt, tensor_data(t), out.data(), out.size());
  return out;
}

// --- writer ---------------------------------------------------------------------------------

std::vector<uint64_t> gguf_ne_from_shape(const std::vector<int64_t>& shape) {
  std::vector<uint64_t> ne;
  for (auto it = shape.rbegin(); it != shape.rend(); ++it) {
    if (*it < 0) fail("gguf_write", "negative dimension ", *it, " in a shape");
    ne.push_back(static_cast<uint64_t>(*it));
  }
  return ne;
}

void write_gguf(const std::string& path,
                const std::vector<std::pair<std::string, GgufValue>>& metadata,
                const std::vector<GgufTensorToWrite>& tensors) {
  const std::string where = "gguf_write";
  uint64_t alignment = kDefaultAlignment;
  std::map<std::string, int> seen_keys;
  for (const auto& [key, value] : metadata) {
    if (key.empty()) fail(where, path, ": empty metadata key");
    if (seen_keys[key]++) fail(where, path, ": duplicate metadata key '", key, "'");
    if (key == "general.alignment") {
      if (value.type != GgufType::u32)
        fail(where, path, ": 'general.alignment' must be u32, got ", gguf_type_name(value.type));
      if (!is_power_of_two(value.u))
        fail(where, path, ": 'general.alignment' is ", value.u, ", not a power of two");
      alignment = value.u;
    }
  }

  std::string head;
  append_raw(head, "GGUF", 4);
  append_le<uint32_t>(head, 3);
  append_le<uint64_t>(head, tensors.size());
  append_le<uint64_t>(head, metadata.size());
  for (const auto& [key, value] : metadata) {
    append_string(head, key);
    append_le<uint32_t>(head, static_cast<uint32_t>(value.type));
    write_value(head, value, key, 0);
  }

  std::map<std::string, int> seen_names;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    const std::string what = path + ": tensor '" + t.name + "'";
    if (t.name.empty()) fail(where, path, ": a tensor has an empty name");
    if (t.name.size() > kMaxNameBytes)
      fail(where, what, ": name is ", t.name.size(), " bytes, llama.cpp allows ", kMaxNameBytes);
    if (seen_names[t.name]++) fail(where, path, ": duplicate tensor '", t.name, "'");
    if (t.ne.empty() || t.ne.size() > kMaxDims)
      fail(where, what, " has ", t.ne.size(), " dimensions; GGUF allows 1 to ", kMaxDims);
    size_t elem = 0;
    if (t.type == GgmlType::f32) elem = 4;
    else if (t.type == GgmlType::f16 || t.type == GgmlType::bf16) elem = 2;
    else fail(where, what, " has type ", ggml_type_name(t.type), "; the writer takes F32, F16, BF16");
    uint64_t numel = 1;
    for (auto d : t.ne) numel *= d;
    if (numel * elem != t.nbytes)
      fail(where, what, " ", ggml_type_name(t.type), " ne ", GgufTensorInfo{"", t.type, t.ne}.ne_str(),
           " needs ", numel * elem, " bytes, got ", t.nbytes);
    if (t.nbytes > 0 && !t.data) fail(where, what, " has no data");
    append_string(head, t.name);
    append_le<uint32_t>(head, static_cast<uint32_t>(t.ne.size()));
    for (auto d : t.ne) append_le<uint64_t>(head, d);
    append_le<uint32_t>(head, static_cast<uint32_t>(t.type));
    append_le<uint64_t>(head, offset);
    offset += pad_to(t.nbytes, alignment);
  }
  head.resize(pad_to(head.size(), alignment), '\0');

  AtomicFile out(path);
  out.write(head);
  const std::string zeros(alignment, '\0');
  for (const auto& t : tensors) {
    out.write(t.data, t.nbytes);
    out.write(zeros.data(), pad_to(t.nbytes, alignment) - t.nbytes);
  }
  out.commit();
}

}  // namespace et
