// safetensors: an 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}),
// then the data section. The reader memory-maps the file and validates everything before use:
// header size, JSON, dtypes, that each tensor's byte range matches its shape and lies inside the
// file, and that ranges do not overlap. Errors name the file and the tensor.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "edgetune/core/dtype.h"
#include "edgetune/core/file_io.h"

namespace et {

struct TensorInfo {
  std::string name;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets into the data section
  int64_t numel() const;
  std::string shape_str() const;  // "[64, 172]"
};

class SafetensorsFile {
 public:
  // `offset`: where the safetensors image starts inside the file (container formats such as .etq
  // put a magic number and version in front of it).
  explicit SafetensorsFile(const std::string& path, uint64_t offset = 0);
  const std::string& path() const { return file_->path(); }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  // nullptr when absent.
  const TensorInfo* find(const std::string& name) const;
  // Throws "[safetensors] <file>: missing tensor '<name>'".
  const TensorInfo& get(const std::string& name) const;
  const uint8_t* data(const TensorInfo& t) const { return data_ + t.begin; }
  // The tensor converted to float32 (any float dtype). With check_finite, a NaN or inf is an error
  // naming the tensor and the first bad index.
  std::vector<float> read_f32(const std::string& name, bool check_finite = true) const;

 private:
  std::shared_ptr<MappedFile> file_;
  const uint8_t* data_ = nullptr;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// The tensors of a model folder: model.safetensors, or the shards listed by
// model.safetensors.index.json (every listed shard must exist and hold its tensors).
class SafetensorsSet {
 public:
  explicit SafetensorsSet(const std::string& folder);
  // A set of one already opened file (e.g. the image inside a container); `label` names it in errors.
  SafetensorsSet(std::unique_ptr<SafetensorsFile> file, const std::string& label);
  const TensorInfo* find(const std::string& name) const;
  bool has(const std::string& name) const { return find(name) != nullptr; }
  // Throws naming the folder and the tensor.
  const TensorInfo& get(const std::string& name) const;
  const SafetensorsFile& file_of(const std::string& name) const;
  std::vector<std::string> names() const;
  const std::string& folder() const { return folder_; }
  std::vector<float> read_f32(const std::string& name, bool check_finite = true) const;

 private:
  std::string folder_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;
};

// Throws "[where] <context>: tensor '<name>' has a NaN/inf at index i" if any value is not finite.
void check_finite(const float* v, size_t n, const std::string& context, const std::string& name);

struct TensorToWrite {
  std::string name;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// Writes a safetensors file atomically (temp + rename). Tensors are written in the given order,
// each aligned to 8 bytes; nbytes must equal numel * dtype size. `prefix` bytes (a container's
// magic number and version) are written before the safetensors image; keep them a multiple of 8.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {}, const std::string& prefix = "");

}  // namespace et
