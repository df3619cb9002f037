#include "edgetune/export/merged_export.h"

#include <map>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/log.h"
#include "edgetune/core/safetensors.h"
#include "edgetune/model/model.h"
#include "edgetune/quant/etq_file.h"

namespace et {

void copy_model_side_files(const std::string& from, const std::string& to) {
  make_dirs(to);
  for (const char* name : {"config.json", "generation_config.json", "tokenizer.json", "tokenizer.model",
                           "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"}) {
    const std::string src = path_join(from, name);
    if (file_exists(src)) write_file_atomic(path_join(to, name), read_text_file(src));
  }
}

namespace {

// Stores float32 values in `dtype` as raw bytes.
std::vector<uint8_t> encode(const torch::Tensor& t32, DType dtype) {
  auto t = t32.contiguous();
  const float* v = t.data_ptr<float>();
  const size_t n = static_cast<size_t>(t.numel());
  std::vector<uint8_t> out(n * dtype_size(dtype));
  if (dtype == DType::f32) {
    std::memcpy(out.data(), v, n * 4);
  } else if (dtype == DType::bf16 || dtype == DType::f16) {
    auto* o = reinterpret_cast<uint16_t*>(out.data());
    for (size_t i = 0; i < n; ++i) o[i] = dtype == DType::bf16 ? f32_to_bf16(v[i]) : f32_to_f16(v[i]);
  } else {
    fail("export", "cannot write a weight as ", dtype_name(dtype));
  }
  return out;
}

}  // namespace

void export_merged(const AdapterSet& adapters, const std::string& base_folder, const std::string& out_dir) {
  if (quant::is_etq_file(base_folder))
    fail("export", base_folder, ": a merged model needs the dense base weights; give the Hugging Face folder the .etq "
         "was quantized from");
  SafetensorsSet files(base_folder);
  std::map<std::string, const PlanEntry*> adapted;
  for (const auto& e : adapters.plan.entries)
    if (e.kind != AdapterKind::none) adapted[e.module + ".weight"] = &e;
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<TensorToWrite> out;
  for (const auto& name : files.names()) {
    const TensorInfo& t = files.get(name);
    const SafetensorsFile& f = files.file_of(name);
    if (adapters.token_rows.defined() && name == adapters.plan.token_module + ".weight") {
      // The embedding with the trained token rows in place (the tied head reads it too).
      std::vector<float> w = f.read_f32(name);
      auto rows = torch::from_blob(w.data(), t.shape, torch::kFloat32)
                      .index_copy(0, torch::tensor(adapters.plan.token_ids, torch::kInt64),
                                  adapters.token_rows.detach().to(torch::kCPU).to(torch::kFloat32));
      buffers.push_back(encode(rows, t.dtype));
      out.push_back({name, t.dtype, t.shape, buffers.back().data(), buffers.back().size()});
      continue;
    }
    auto it = adapted.find(name);
    if (it == adapted.end()) {
      out.push_back({name, t.dtype, t.shape, f.data(t), t.end - t.begin});
      continue;
    }
    const PlanEntry& e = *it->second;
    if (t.shape != std::vector<int64_t>{e.out_features, e.in_features})
      fail("export", base_folder, ": tensor '", name, "' is ", t.shape_str(), " but the patch adapts it as [",
           e.out_features, ", ", e.in_features, "]");
    std::vector<float> w = f.read_f32(name);
    auto merged = torch::from_blob(w.data(), t.shape, torch::kFloat32) + adapters.delta_weight(it->second->module).cpu();
    buffers.push_back(encode(merged, t.dtype));
    out.push_back({name, t.dtype, t.shape, buffers.back().data(), buffers.back().size()});
    adapted.erase(it);
  }
  if (!adapted.empty()) fail("export", base_folder, ": has no tensor '", adapted.begin()->first, "' that the patch adapts");
  copy_model_side_files(base_folder, out_dir);
  write_safetensors(path_join(out_dir, "model.safetensors"), out, {{"format", "pt"}});
  if (file_exists(path_join(out_dir, "model.safetensors.index.json")))
    std::remove(path_join(out_dir, "model.safetensors.index.json").c_str());
}

void export_model_weights(const model::Model& m, const std::string& base_folder, const std::string& out_dir) {
  std::vector<std::pair<std::string, torch::Tensor>> named = model::named_weights(m);
  std::vector<torch::Tensor> alive;
  std::vector<TensorToWrite> out;
  for (const auto& kv : named) {
    auto t = kv.second.detach().to(torch::kCPU).to(torch::kFloat32).contiguous();
    alive.push_back(t);
    out.push_back({kv.first, DType::f32, std::vector<int64_t>(t.sizes().begin(), t.sizes().end()), t.data_ptr(),
                   static_cast<size_t>(t.numel()) * 4});
  }
  copy_model_side_files(base_folder, out_dir);
  write_safetensors(path_join(out_dir, "model.safetensors"), out, {{"format", "pt"}});
}

}  // namespace et
