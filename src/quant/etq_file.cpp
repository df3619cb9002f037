#include "edgetune/quant/etq_file.h"

#include <cstring>
#include <fstream>
#include <limits>

#include "edgetune/core/error.h"
#include "edgetune/version.h"

namespace et::quant {

namespace {

bool ends_with(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

template <class T>
torch::Tensor copy_tensor(const SafetensorsFile& f, const std::string& name, DType want, torch::Dtype tdtype,
                          const std::string& where) {
  const TensorInfo& t = f.get(name);
  if (t.dtype != want) fail("etq", where, ": tensor '", name, "' is ", dtype_name(t.dtype), ", expected ", dtype_name(want));
  auto out = torch::empty(t.shape, tdtype);
  std::memcpy(out.data_ptr(), f.data(t), t.end - t.begin);
  return out;
}

}  // namespace

bool is_etq_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4];
  return in && in.read(magic, 4) && std::memcmp(magic, kEtqMagic, 4) == 0;
}

bool EtqContents::is_nf4_part(const std::string& n) const {
  return n == "nf4.code8" || n.rfind("file/", 0) == 0 || n.find(".nf4.") != std::string::npos;
}

EtqContents read_etq(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("etq", path, ": cannot open");
  char head[8] = {0};
  in.read(head, 8);
  if (in.gcount() < 8 || std::memcmp(head, kEtqMagic, 4) != 0) fail("etq", path, ": not an .etq file (bad magic)");
  uint32_t version = 0;
  for (int i = 0; i < 4; ++i) version |= static_cast<uint32_t>(static_cast<uint8_t>(head[4 + i])) << (8 * i);
  if (version != kEtqVersion) fail("etq", path, ": format version ", version, " is not supported (this build reads ", kEtqVersion, ")");
  EtqContents c;
  c.path = path;
  c.file = std::make_unique<SafetensorsFile>(path, 8);
  c.metadata = c.file->metadata();
  if (c.metadata["format"] != "edgetune-etq") fail("etq", path, ": metadata format is not edgetune-etq");
  torch::Tensor code8;
  if (c.file->has("nf4.code8")) code8 = copy_tensor<float>(*c.file, "nf4.code8", DType::f32, torch::kFloat32, path);
  for (const auto& t : c.file->tensors()) {
    if (t.name.rfind("file/", 0) == 0) {
      if (t.dtype != DType::u8) fail("etq", path, ": side file '", t.name, "' is not U8");
      c.side_files[t.name.substr(5)] = std::string(reinterpret_cast<const char*>(c.file->data(t)), t.end - t.begin);
      continue;
    }
    if (!ends_with(t.name, ".nf4.packed")) continue;
    const std::string w = t.name.substr(0, t.name.size() - 11);
    if (!code8.defined()) fail("etq", path, ": NF4 weight '", w, "' but no nf4.code8 table");
    Nf4Weight q;
    q.name = w;
    q.packed = copy_tensor<uint8_t>(*c.file, w + ".nf4.packed", DType::u8, torch::kUInt8, path);
    q.absmax_q = copy_tensor<uint8_t>(*c.file, w + ".nf4.absmax_q", DType::u8, torch::kUInt8, path);
    q.absmax2 = copy_tensor<float>(*c.file, w + ".nf4.absmax2", DType::f32, torch::kFloat32, path);
    q.code8 = code8;
    auto off = copy_tensor<float>(*c.file, w + ".nf4.offset", DType::f32, torch::kFloat32, path);
    auto shape = copy_tensor<int64_t>(*c.file, w + ".nf4.shape", DType::i64, torch::kInt64, path);
    if (off.numel() != 1) fail("etq", path, ": ", w, ".nf4.offset must hold one value");
    q.offset = off.item<float>();
    q.numel = 1;
    for (int64_t i = 0; i < shape.numel(); ++i) {
      const int64_t d = shape[i].item<int64_t>();
      if (d <= 0) fail("etq", path, ": ", w, ".nf4.shape has a non-positive size");
      if (q.numel > std::numeric_limits<int64_t>::max() / d)
        fail("etq", path, ": ", w, ".nf4.shape holds more values than an int64 counts");
      q.shape.push_back(d);
      q.numel *= d;
    }
    q.name = path + ": " + w;  // validated under "<file>: <weight>" so an error names both
    nf4_validate(q, "etq");
    q.name = w;
    c.nf4[w] = std::move(q);
  }
  return c;
}

void write_etq(const std::string& path, const std::vector<EtqDenseTensor>& dense,
               const std::vector<const Nf4Weight*>& quantized, const std::map<std::string, std::string>& side_files,
               const std::string& source, const std::map<std::string, std::string>& extra_metadata) {
  std::vector<TensorToWrite> out;
  std::vector<torch::Tensor> alive;
  for (const auto& d : dense) out.push_back({d.name, d.dtype, d.shape, d.data, d.nbytes});
  auto add = [&](const std::string& name, const torch::Tensor& t0, DType dt) {
    auto t = t0.to(torch::kCPU).contiguous();
    alive.push_back(t);
    out.push_back({name, dt, std::vector<int64_t>(t.sizes().begin(), t.sizes().end()), t.data_ptr(),
                   static_cast<size_t>(t.nbytes())});
  };
  if (!quantized.empty()) add("nf4.code8", quantized.front()->code8, DType::f32);
  for (const Nf4Weight* q : quantized) {
    nf4_validate(*q, "etq");
    add(q->name + ".nf4.packed", q->packed, DType::u8);
    add(q->name + ".nf4.absmax_q", q->absmax_q, DType::u8);
    add(q->name + ".nf4.absmax2", q->absmax2, DType::f32);
    add(q->name + ".nf4.offset", torch::tensor({q->offset}, torch::kFloat32), DType::f32);
    add(q->name + ".nf4.shape", torch::tensor(q->shape, torch::kInt64), DType::i64);
  }
  for (const auto& kv : side_files)
    out.push_back({"file/" + kv.first, DType::u8, {static_cast<int64_t>(kv.second.size())}, kv.second.data(), kv.second.size()});
  std::string prefix(kEtqMagic, 4);
  for (int i = 0; i < 4; ++i) prefix.push_back(static_cast<char>((kEtqVersion >> (8 * i)) & 0xff));
  std::map<std::string, std::string> md = extra_metadata;
  md["format"] = "edgetune-etq";
  md["edgetune_version"] = EDGETUNE_VERSION;
  md["source"] = source;
  write_safetensors(path, out, md, prefix);
}

}  // namespace et::quant
