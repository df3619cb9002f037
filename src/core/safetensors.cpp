#include "edgetune/core/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "edgetune/core/error.h"

namespace et {

using nlohmann::json;

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string TensorInfo::shape_str() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

SafetensorsFile::SafetensorsFile(const std::string& path, uint64_t offset)
    : file_(std::make_shared<MappedFile>(path)) {
  if (offset > file_->size()) fail("safetensors", path, ": file is shorter than its ", offset, "-byte preamble");
  const size_t size = file_->size() - offset;
  const uint8_t* p = file_->data() + offset;
  if (size < 8) fail("safetensors", path, ": file is ", size, " bytes, too short for a header (truncated?)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | p[i];
  if (n > size - 8)
    fail("safetensors", path, ": header length ", n, " runs past the end of the file (", size,
         " bytes; truncated?)");
  if (n > (100u << 20)) fail("safetensors", path, ": header length ", n, " is implausibly large");
  json header;
  try {
    header = json::parse(p + 8, p + 8 + n);
  } catch (const std::exception& e) {
    fail("safetensors", path, ": header is not valid JSON (", e.what(), ")");
  }
  if (!header.is_object()) fail("safetensors", path, ": header is not a JSON object");
  data_ = p + 8 + n;
  const uint64_t data_size = size - 8 - n;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail("safetensors", path, ": __metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail("safetensors", path, ": metadata '", m.key(), "' is not a string");
        metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const std::string where = path + ": tensor '" + it.key() + "'";
    const json& e = *it;
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      fail("safetensors", where, " lacks dtype, shape or data_offsets");
    TensorInfo t;
    t.name = it.key();
    if (!e["dtype"].is_string()) fail("safetensors", where, " has a non-string dtype");
    t.dtype = parse_dtype(e["dtype"].get<std::string>(), where);
    if (!e["shape"].is_array()) fail("safetensors", where, " has a non-array shape");
    int64_t numel = 1;
    for (const auto& d : e["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        fail("safetensors", where, " has an invalid shape entry ", d.dump());
      const int64_t n = d.get<int64_t>();
      // The byte count below must not wrap around to a small number that the data matches.
      if (n > 0 && numel > std::numeric_limits<int64_t>::max() / 8 / n)
        fail("safetensors", where, " has a shape ", e["shape"].dump(), " of more elements than a file can hold");
      numel *= n;
      t.shape.push_back(n);
    }
    const json& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail("safetensors", where, " has invalid data_offsets ", off.dump());
    t.begin = off[0].get<uint64_t>();
    t.end = off[1].get<uint64_t>();
    if (t.end < t.begin) fail("safetensors", where, " data_offsets end before they begin ", off.dump());
    if (t.end > data_size)
      fail("safetensors", where, " data_offsets ", off.dump(), " run past the end of the data (",
           data_size, " bytes; the file is truncated or the header is corrupt)");
    const uint64_t want = static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype);
    if (t.end - t.begin != want)
      fail("safetensors", where, " holds ", t.end - t.begin, " bytes but shape ", t.shape_str(), " of ",
           dtype_name(t.dtype), " needs ", want);
    index_[t.name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }
  std::vector<const TensorInfo*> sorted;
  for (const auto& t : tensors_) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto a, auto b) { return a->begin < b->begin; });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i]->begin < sorted[i - 1]->end && sorted[i]->end > sorted[i]->begin)
      fail("safetensors", path, ": tensors '", sorted[i - 1]->name, "' and '", sorted[i]->name,
           "' overlap in the data section");
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& SafetensorsFile::get(const std::string& name) const {
  const TensorInfo* t = find(name);
  if (!t) fail("safetensors", path(), ": missing tensor '", name, "'");
  return *t;
}

void check_finite(const float* v, size_t n, const std::string& context, const std::string& name) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i]))
      fail("weights", context, ": tensor '", name, "' has a ", std::isnan(v[i]) ? "NaN" : "inf",
           " at index ", i);
}

std::vector<float> SafetensorsFile::read_f32(const std::string& name, bool finite) const {
  const TensorInfo& t = get(name);
  if (!dtype_is_float(t.dtype))
    fail("safetensors", path(), ": tensor '", name, "' is ", dtype_name(t.dtype), ", expected a float type");
  std::vector<float> out(static_cast<size_t>(t.numel()));
  convert_to_f32(t.dtype, data(t), out.data(), out.size());
  if (finite) check_finite(out.data(), out.size(), path(), name);
  return out;
}

SafetensorsSet::SafetensorsSet(const std::string& folder) : folder_(folder) {
  const std::string single = path_join(folder, "model.safetensors");
  const std::string index = path_join(folder, "model.safetensors.index.json");
  std::vector<std::string> shard_names;
  json weight_map;
  if (file_exists(index)) {
    json j;
    try {
      j = json::parse(read_text_file(index));
    } catch (const json::exception& e) {
      fail("safetensors", index, ": not valid JSON (", e.what(), ")");
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      fail("safetensors", index, ": no weight_map object");
    weight_map = j["weight_map"];
    for (auto it = weight_map.begin(); it != weight_map.end(); ++it) {
      if (!it->is_string()) fail("safetensors", index, ": weight_map entry '", it.key(), "' is not a file name");
      auto s = it->get<std::string>();
      if (std::find(shard_names.begin(), shard_names.end(), s) == shard_names.end()) shard_names.push_back(s);
    }
  } else if (file_exists(single)) {
    shard_names.push_back("model.safetensors");
  } else {
    fail("safetensors", folder, ": neither model.safetensors nor model.safetensors.index.json found");
  }
  for (const auto& s : shard_names) {
    const std::string p = path_join(folder, s);
    if (!file_exists(p)) fail("safetensors", index, ": lists shard ", s, " which does not exist");
    files_.push_back(std::make_unique<SafetensorsFile>(p));
    for (const auto& t : files_.back()->tensors()) {
      if (where_.count(t.name))
        fail("safetensors", folder, ": tensor '", t.name, "' appears in two shards");
      where_[t.name] = files_.size() - 1;
    }
  }
  if (!weight_map.is_null()) {
    for (auto it = weight_map.begin(); it != weight_map.end(); ++it) {
      auto w = where_.find(it.key());
      if (w == where_.end())
        fail("safetensors", index, ": tensor '", it.key(), "' is listed in ", it->get<std::string>(),
             " but not found there");
    }
  }
}

SafetensorsSet::SafetensorsSet(std::unique_ptr<SafetensorsFile> file, const std::string& label) : folder_(label) {
  for (const auto& t : file->tensors()) where_[t.name] = 0;
  files_.push_back(std::move(file));
}

const TensorInfo* SafetensorsSet::find(const std::string& name) const {
  auto it = where_.find(name);
  return it == where_.end() ? nullptr : files_[it->second]->find(name);
}

const TensorInfo& SafetensorsSet::get(const std::string& name) const {
  const TensorInfo* t = find(name);
  if (!t) fail("safetensors", folder_, ": missing tensor '", name, "'");
  return *t;
}

const SafetensorsFile& SafetensorsSet::file_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail("safetensors", folder_, ": missing tensor '", name, "'");
  return *files_[it->second];
}

std::vector<std::string> SafetensorsSet::names() const {
  std::vector<std::string> out;
  for (const auto& kv : where_) out.push_back(kv.first);
  return out;
}

std::vector<float> SafetensorsSet::read_f32(const std::string& name, bool finite) const {
  return file_of(name).read_f32(name, finite);
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata, const std::string& prefix) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::vector<uint64_t> begins;
  for (const auto& t : tensors) {
    int64_t numel = 1;
    for (auto d : t.shape) numel *= d;
    if (static_cast<uint64_t>(numel) * dtype_size(t.dtype) != t.nbytes)
      fail("safetensors", path, ": tensor '", t.name, "' has ", t.nbytes, " bytes, shape needs ",
           numel * static_cast<int64_t>(dtype_size(t.dtype)));
    if (header.contains(t.name)) fail("safetensors", path, ": duplicate tensor name '", t.name, "'");
    offset = (offset + 7) / 8 * 8;
    begins.push_back(offset);
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8 != 0) h.push_back(' ');  // data section starts 8-aligned
  AtomicFile f(path);
  f.write(prefix);
  uint8_t len[8];
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  f.write(len, 8);
  f.write(h);
  uint64_t pos = 0;
  static const char zeros[8] = {0};
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (begins[i] > pos) f.write(zeros, begins[i] - pos);
    f.write(tensors[i].data, tensors[i].nbytes);
    pos = begins[i] + tensors[i].nbytes;
  }
  f.commit();
}

}  // namespace et
