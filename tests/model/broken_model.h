// Broken copies of a model folder, one defect each, for the bad-input tests of the library and
// the CLI. Each returns the substrings the resulting error must contain (the file and tensor).
#pragma once
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edgetune/core/file_io.h"
#include "edgetune/core/safetensors.h"

namespace et::test {

enum class Breakage { truncated, offsets_past_end, missing_tensor, wrong_shape, nan_weight, unsupported_arch };

inline const std::vector<Breakage>& all_breakages() {
  static const std::vector<Breakage> b = {Breakage::truncated, Breakage::offsets_past_end, Breakage::missing_tensor,
                                          Breakage::wrong_shape, Breakage::nan_weight, Breakage::unsupported_arch};
  return b;
}

inline const char* breakage_name(Breakage b) {
  switch (b) {
    case Breakage::truncated: return "Truncated";
    case Breakage::offsets_past_end: return "OffsetsPastEnd";
    case Breakage::missing_tensor: return "MissingTensor";
    case Breakage::wrong_shape: return "WrongShape";
    case Breakage::nan_weight: return "NanWeight";
    case Breakage::unsupported_arch: return "UnsupportedArchitecture";
  }
  return "?";
}

namespace detail {

struct OwnedTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

inline std::vector<OwnedTensor> read_all(const std::string& path) {
  SafetensorsFile f(path);
  std::vector<OwnedTensor> out;
  for (const auto& t : f.tensors())
    out.push_back({t.name, t.dtype, t.shape, std::string(reinterpret_cast<const char*>(f.data(t)), t.end - t.begin)});
  return out;
}

inline void write_all(const std::string& path, const std::vector<OwnedTensor>& ts) {
  std::vector<TensorToWrite> w;
  for (const auto& t : ts) w.push_back({t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
  write_safetensors(path, w);
}

}  // namespace detail

// Copies config.json and model.safetensors of `src` (an F32 model with
// model.layers.0.self_attn.q_proj.weight and model.layers.1.mlp.up_proj.weight) into `dst`,
// breaking one thing.
inline std::vector<std::string> make_broken_model(const std::string& src, const std::string& dst, Breakage b) {
  const std::string cfg_src = path_join(src, "config.json"), st_src = path_join(src, "model.safetensors");
  const std::string cfg = path_join(dst, "config.json"), st = path_join(dst, "model.safetensors");
  std::string config_text = read_text_file(cfg_src), data = read_text_file(st_src);
  const std::string q = "model.layers.0.self_attn.q_proj.weight";
  std::vector<std::string> must = {"model.safetensors"};
  switch (b) {
    case Breakage::truncated: {
      data.resize(data.size() / 2);
      write_file_atomic(st, data);
      must.push_back("tensor '");
      must.push_back("truncated");
      break;
    }
    case Breakage::offsets_past_end: {
      uint64_t n = 0;
      for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(data[static_cast<size_t>(i)]);
      auto header = nlohmann::json::parse(data.substr(8, n));
      const uint64_t data_size = data.size() - 8 - n;
      auto& off = header[q]["data_offsets"];
      const uint64_t len = off[1].get<uint64_t>() - off[0].get<uint64_t>();
      off = {data_size + 64, data_size + 64 + len};
      std::string h = header.dump();
      while ((h.size() + 8) % 8) h.push_back(' ');
      std::string out(8, '\0');
      for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((h.size() >> (8 * i)) & 0xff);
      write_file_atomic(st, out + h + data.substr(8 + n));
      must.push_back(q);
      break;
    }
    case Breakage::missing_tensor: {
      auto ts = detail::read_all(st_src);
      const std::string gone = "model.layers.1.mlp.up_proj.weight";
      ts.erase(std::remove_if(ts.begin(), ts.end(), [&](const auto& t) { return t.name == gone; }), ts.end());
      detail::write_all(st, ts);
      must = {dst, gone, "missing"};
      break;
    }
    case Breakage::wrong_shape: {
      auto ts = detail::read_all(st_src);
      for (auto& t : ts)
        if (t.name == q) {  // drop the last row: [out - 1, in]
          t.bytes.resize(t.bytes.size() - static_cast<size_t>(t.shape[1]) * 4);
          t.shape[0] -= 1;
        }
      detail::write_all(st, ts);
      must.push_back(q);
      must.push_back("shape");
      break;
    }
    case Breakage::nan_weight: {
      auto ts = detail::read_all(st_src);
      for (auto& t : ts)
        if (t.name == q) {
          const float nan = std::numeric_limits<float>::quiet_NaN();
          std::memcpy(&t.bytes[12], &nan, 4);  // element 3
        }
      detail::write_all(st, ts);
      must.push_back(q);
      must.push_back("NaN");
      break;
    }
    case Breakage::unsupported_arch: {
      auto j = nlohmann::json::parse(config_text);
      j["model_type"] = "mamba";
      j["architectures"] = {"MambaForCausalLM"};
      config_text = j.dump(2);
      write_file_atomic(st, data);
      must = {"config.json", "MambaForCausalLM"};
      break;
    }
  }
  write_file_atomic(cfg, config_text);
  return must;
}

}  // namespace et::test
