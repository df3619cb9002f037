#include "edgetune/export/patch.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "edgetune/core/checksums.h"
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/log.h"
#include "edgetune/core/hash.h"
#include "edgetune/core/paths.h"
#include "edgetune/core/safetensors.h"
#include "edgetune/model/model.h"
#include "edgetune/model/model_files.h"
#include "edgetune/quant/etq_file.h"
#include "edgetune/version.h"

namespace et {

using nlohmann::json;

namespace {

// A matrix fingerprint's hash: 1 to 16 hex digits (std::stoull alone would throw out_of_range or
// invalid_argument without saying where).
uint64_t parse_fingerprint_hash(const std::string& s, const std::string& where) {
  if (s.empty() || s.size() > 16 || s.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
    fail("patch", where, ": fingerprint hash '", s.substr(0, 40), "' is not 1 to 16 hex digits");
  return std::stoull(s, nullptr, 16);
}


const char* kFormat = "edgetune-patch";

json fingerprints_json(const std::vector<MatrixFingerprint>& fps) {
  json a = json::array();
  for (const auto& f : fps)
    a.push_back({{"module", f.module}, {"shape", f.shape}, {"dtype", f.dtype}, {"hash", hash_hex(f.hash)}, {"norm", f.norm}});
  return a;
}

}  // namespace

std::vector<MatrixFingerprint> fingerprint_base(const std::string& folder, const std::vector<std::string>& modules) {
  std::vector<MatrixFingerprint> out;
  if (quant::is_etq_file(folder)) {
    // An .etq carries the fingerprints of the dense weights it was quantized from, so a patch
    // trained on it matches that Hugging Face folder too.
    const quant::EtqContents etq = quant::read_etq(folder);
    auto it = etq.metadata.find("source_fingerprints");
    if (it == etq.metadata.end()) fail("patch", folder, ": the .etq holds no source fingerprints");
    json all;
    try {
      all = json::parse(it->second);
    } catch (const json::exception& e) {
      fail("patch", folder, ": malformed source_fingerprints (", e.what(), ")");
    }
    for (const auto& m : modules) {
      if (!all.contains(m)) fail("patch", folder, ": no fingerprint for ", m);
      const json& fj = all[m];
      MatrixFingerprint fp;
      fp.module = m;
      fp.shape = fj.at("shape").get<std::vector<int64_t>>();
      fp.dtype = fj.at("dtype").get<std::string>();
      fp.hash = parse_fingerprint_hash(fj.at("hash").get<std::string>(), folder + " (" + m + ")");
      fp.norm = fj.at("norm").get<double>();
      out.push_back(std::move(fp));
    }
    return out;
  }
  SafetensorsSet files(folder);
  for (const auto& m : modules) {
    const std::string name = m + ".weight";
    const TensorInfo& t = files.get(name);
    const SafetensorsFile& f = files.file_of(name);
    MatrixFingerprint fp;
    fp.module = m;
    fp.shape = t.shape;
    fp.dtype = dtype_name(t.dtype);
    fp.hash = hash_bytes64(f.data(t), t.end - t.begin);
    std::vector<float> v = f.read_f32(name, false);
    double sq = 0;
    for (float x : v) sq += static_cast<double>(x) * x;
    fp.norm = std::sqrt(sq);
    out.push_back(std::move(fp));
  }
  return out;
}

Patch make_patch(const AdapterSet& adapters, const std::string& base_folder, const std::string& recipe_yaml) {
  Patch p;
  p.plan = adapters.plan;
  p.recipe_yaml = recipe_yaml;
  p.base_path = absolute_path(base_folder);  // names the base wherever the patch is used
  p.base_config = read_text_file(path_join(model::model_files_folder(base_folder), "config.json"));
  p.edgetune_version = EDGETUNE_VERSION;
  std::vector<std::string> modules;
  for (const auto& e : adapters.plan.entries)
    if (e.kind != AdapterKind::none) modules.push_back(e.module);
  p.fingerprints = fingerprint_base(base_folder, modules);
  for (const auto& kv : adapters.named_parameters())
    p.tensors.emplace_back(kv.first, kv.second.detach().to(torch::kCPU).to(torch::kFloat32).contiguous());
  return p;
}

void write_patch(const std::string& path, const Patch& p) {
  std::vector<TensorToWrite> tensors;
  std::vector<torch::Tensor> alive;
  for (const auto& kv : p.tensors) {
    auto t = kv.second.detach().to(torch::kCPU).to(torch::kFloat32).contiguous();
    alive.push_back(t);
    tensors.push_back({kv.first, DType::f32, std::vector<int64_t>(t.sizes().begin(), t.sizes().end()), t.data_ptr(),
                       static_cast<size_t>(t.numel()) * 4});
  }
  std::map<std::string, std::string> md = {{"format", kFormat},
                                           {"version", "1"},
                                           {"edgetune_version", p.edgetune_version},
                                           {"plan", p.plan.to_json().dump()},
                                           {"recipe", p.recipe_yaml},
                                           {"base_path", p.base_path},
                                           {"base_config", p.base_config},
                                           {"base_fingerprint", fingerprints_json(p.fingerprints).dump()}};
  add_checksums(md, tensors);
  write_safetensors(path, tensors, md);
}

Patch read_patch(const std::string& path) {
  SafetensorsFile f(path);
  const auto& md = f.metadata();
  auto get = [&](const char* key) -> std::string {
    auto it = md.find(key);
    if (it == md.end()) fail("patch", path, ": metadata '", key, "' is missing (not an edgetune patch?)");
    return it->second;
  };
  if (get("format") != kFormat) fail("patch", path, ": not an edgetune patch (format '", get("format"), "')");
  if (get("version") != "1") fail("patch", path, ": unsupported patch version ", get("version"));
  verify_checksums(f);  // patches written before checksums have none, and still load
  Patch p;
  p.edgetune_version = get("edgetune_version");
  p.recipe_yaml = get("recipe");
  p.base_path = get("base_path");
  p.base_config = get("base_config");
  try {
    p.plan = Plan::from_json(json::parse(get("plan")), path + " (plan)");
    for (const auto& fj : json::parse(get("base_fingerprint"))) {
      MatrixFingerprint fp;
      fp.module = fj.at("module").get<std::string>();
      fp.shape = fj.at("shape").get<std::vector<int64_t>>();
      fp.dtype = fj.at("dtype").get<std::string>();
      fp.hash = parse_fingerprint_hash(fj.at("hash").get<std::string>(), path + " (base_fingerprint of " + fp.module + ")");
      fp.norm = fj.at("norm").get<double>();
      p.fingerprints.push_back(std::move(fp));
    }
  } catch (const json::exception& e) {
    fail("patch", path, ": malformed metadata (", e.what(), ")");
  }
  // Every tensor the plan implies must be present with its shape, and nothing else.
  AdapterSet expect = create_adapters(p.plan, 0, torch::kCPU);
  auto want = expect.named_parameters();
  if (want.size() != f.tensors().size())
    fail("patch", path, ": holds ", f.tensors().size(), " tensors, its plan needs ", want.size());
  for (const auto& kv : want) {
    const TensorInfo* t = f.find(kv.first);
    if (!t) fail("patch", path, ": missing tensor '", kv.first, "'");
    std::vector<int64_t> shape(kv.second.sizes().begin(), kv.second.sizes().end());
    if (t->shape != shape)
      fail("patch", path, ": tensor '", kv.first, "' has shape ", t->shape_str(), ", the plan needs ",
           TensorInfo{"", DType::f32, shape, 0, 0}.shape_str());
    std::vector<float> v = f.read_f32(kv.first);  // checks NaN/inf
    p.tensors.emplace_back(kv.first, torch::from_blob(v.data(), t->shape, torch::kFloat32).clone());
  }
  return p;
}

AdapterSet adapters_from_patch(const Patch& p, torch::Device device) {
  AdapterSet s = create_adapters(p.plan, 0, device);
  torch::NoGradGuard g;
  for (auto& kv : s.named_parameters()) {
    bool found = false;
    for (const auto& t : p.tensors)
      if (t.first == kv.first) {
        kv.second.copy_(t.second.to(device));
        found = true;
      }
    ET_CHECK(found, "patch", "tensor '", kv.first, "' is missing");
    kv.second.set_requires_grad(false);
  }
  return s;
}

void check_patch_base(const Patch& p, const std::string& folder, bool force) {
  std::vector<std::string> modules;
  for (const auto& f : p.fingerprints) modules.push_back(f.module);
  auto now = fingerprint_base(folder, modules);
  for (size_t i = 0; i < now.size(); ++i) {
    const auto& a = p.fingerprints[i];
    const auto& b = now[i];
    if (a.shape != b.shape || a.hash != b.hash) {
      std::string msg = cat("the patch was trained on another base: ", a.module, " differs in ", folder,
                            a.shape != b.shape ? " (shape)" : cat(" (norm ", a.norm, " in the patch's base, ", b.norm, " here)"));
      if (!force) fail("patch", msg, "; use `edgetune retune` to check whether it still fits, or --force");
      log_warn(msg, " (--force: applying anyway)");
      return;
    }
  }
}

Patch apply_patch(model::Model& model, const std::string& path, const std::string& model_folder, bool force) {
  Patch patch = read_patch(path);
  check_patch_base(patch, model_folder, force);
  attach_adapters(model, adapters_from_patch(patch, model.device));
  return patch;
}

}  // namespace et
