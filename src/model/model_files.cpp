#include "edgetune/model/model_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/hash.h"
#include "edgetune/core/log.h"
#include "edgetune/core/safetensors.h"
#include "edgetune/model/config.h"
#include "edgetune/model/model.h"
#include "edgetune/quant/etq_file.h"
#include "edgetune/quant/nf4.h"

namespace et::model {

namespace {

const char* kSideFiles[] = {"config.json",          "generation_config.json", "tokenizer.json",
                            "tokenizer.model",      "tokenizer_config.json",  "special_tokens_map.json",
                            "chat_template.jinja"};

std::string cache_root() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return path_join(x, "edgetune");
  if (const char* h = std::getenv("HOME"); h && *h && ::access(h, W_OK) == 0) return path_join(h, ".cache/edgetune");
  const char* t = std::getenv("TMPDIR");
  return path_join(t && *t ? t : "/tmp", "edgetune-cache");
}

}  // namespace

std::string model_files_folder(const std::string& path) {
  if (!quant::is_etq_file(path)) return path;
  quant::EtqContents etq = quant::read_etq(path);
  std::string key;
  for (const auto& kv : etq.side_files) key += kv.first + '\0' + kv.second + '\0';
  const std::string dir = path_join(
      cache_root(), "etq-" + hash_hex(hash_bytes64(reinterpret_cast<const uint8_t*>(key.data()), key.size())));
  if (!file_exists(path_join(dir, "config.json"))) {
    make_dirs(dir);
    for (const auto& kv : etq.side_files) {
      if (kv.first.find('/') != std::string::npos || kv.first.empty() || kv.first[0] == '.')
        fail("etq", path, ": embedded file name '", kv.first, "' is not a plain file name");
      write_file_atomic(path_join(dir, kv.first), kv.second);
    }
  }
  return dir;
}

QuantizeReport quantize_to_etq(const std::string& folder, const std::string& out_path,
                               const std::function<void(int64_t, int64_t)>& progress) {
  const ModelConfig c = load_config(folder);
  SafetensorsSet files(folder);
  std::string prefix;
  bool tied = false;
  const auto specs = expected_tensors(c, files, &prefix, &tied);
  validate_tensors(c, files, /*check_values=*/true);
  QuantizeReport rep;
  std::vector<quant::EtqDenseTensor> dense;
  std::vector<quant::Nf4Weight> quantized;
  quantized.reserve(specs.size());
  double err2 = 0, ref2 = 0;
  nlohmann::json fingerprints = nlohmann::json::object();  // of the source's dense projections
  int64_t total = 0, done = 0;
  auto is_proj = [](const std::string& n) {
    for (const char* k : {"q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight", "gate_proj.weight",
                          "up_proj.weight", "down_proj.weight"}) {
      const std::string s(k);
      if (n.size() > s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0) return true;
    }
    return false;
  };
  for (const auto& spec : specs) total += is_proj(spec.name);
  for (const auto& spec : specs) {
    const TensorInfo& t = files.get(spec.name);
    const SafetensorsFile& f = files.file_of(spec.name);
    rep.source_mb += static_cast<double>(t.end - t.begin) / (1 << 20);
    if (!is_proj(spec.name)) {
      dense.push_back({spec.name, t.dtype, t.shape, f.data(t), t.end - t.begin});
      rep.output_mb += static_cast<double>(t.end - t.begin) / (1 << 20);
      continue;
    }
    std::vector<float> v = f.read_f32(spec.name);
    auto w = torch::from_blob(v.data(), t.shape, torch::kFloat32);
    double sq = 0;
    for (float x : v) sq += static_cast<double>(x) * x;
    fingerprints[spec.name.substr(0, spec.name.size() - 7)] = {
        {"shape", t.shape}, {"dtype", dtype_name(t.dtype)},
        {"hash", hash_hex(hash_bytes64(f.data(t), t.end - t.begin))}, {"norm", std::sqrt(sq)}};
    quantized.push_back(quant::nf4_quantize(w, spec.name));
    auto back = quant::nf4_dequantize(quantized.back(), torch::kFloat32, torch::kCPU);
    err2 += (back - w).pow(2).sum().item<double>();
    ref2 += w.pow(2).sum().item<double>();
    rep.quantized_values += quantized.back().numel;
    rep.output_mb += static_cast<double>(quantized.back().nbytes()) / (1 << 20);
    ++rep.quantized_matrices;
    if (progress) progress(++done, total);
  }
  std::map<std::string, std::string> side;
  for (const char* name : kSideFiles) {
    const std::string p = path_join(folder, name);
    if (file_exists(p)) side[name] = read_text_file(p);
  }
  std::vector<const quant::Nf4Weight*> qptr;
  for (const auto& q : quantized) qptr.push_back(&q);
  quant::write_etq(out_path, dense, qptr, side, folder, {{"source_fingerprints", fingerprints.dump()}});
  rep.rmse = ref2 > 0 ? std::sqrt(err2 / ref2) : 0;
  return rep;
}

}  // namespace et::model
