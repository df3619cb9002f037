#include "edgetune/retune/base_weights.h"

#include "edgetune/core/error.h"
#include "edgetune/quant/etq_file.h"

namespace et {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

BaseWeights::BaseWeights(const std::string& path) : path_(path) {
  if (quant::is_etq_file(path)) {
    etq_ = true;
    quant::EtqContents etq = quant::read_etq(path);
    auto cfg = etq.side_files.find("config.json");
    if (cfg == etq.side_files.end()) fail("retune", path, ": the .etq file holds no config.json");
    config_ = model::parse_config(cfg->second, path + ":config.json");
    nf4_ = std::move(etq.nf4);
    files_ = std::make_unique<SafetensorsSet>(std::move(etq.file), path);
  } else {
    config_ = model::load_config(path);
    files_ = std::make_unique<SafetensorsSet>(path);
  }
  for (const auto& spec : model::expected_tensors(config_, *files_)) {
    std::vector<int64_t> shape;
    auto q = nf4_.find(spec.name);
    if (q != nf4_.end()) {
      shape = q->second.shape;
    } else {
      const TensorInfo* t = files_->find(spec.name);
      if (!t) fail("retune", path, ": missing tensor '", spec.name, "' (config.json implies ", shape_str(spec.shape), ")");
      if (!dtype_is_float(t->dtype))
        fail("retune", path, ": tensor '", spec.name, "' has dtype ", dtype_name(t->dtype), "; expected a float dtype");
      shape = t->shape;
      const std::string dt = dtype_name(t->dtype);
      stored_dtype_ = stored_dtype_.empty() || stored_dtype_ == dt ? dt : "mixed";
    }
    if (shape != spec.shape)
      fail("retune", path, ": tensor '", spec.name, "' has shape ", shape_str(shape), ", config.json implies ",
           shape_str(spec.shape));
    index_[spec.name] = tensors_.size();
    tensors_.push_back({spec.name, shape});
  }
}

const std::vector<int64_t>& BaseWeights::shape(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail("retune", path_, ": no tensor '", name, "'");
  return tensors_[it->second].shape;
}

torch::Tensor BaseWeights::read(const std::string& name) const {
  const std::vector<int64_t>& s = shape(name);
  auto q = nf4_.find(name);
  if (q != nf4_.end()) {
    torch::Tensor w = quant::nf4_dequantize(q->second, torch::kFloat32, torch::kCPU).to(torch::kFloat64);
    if (!torch::isfinite(w).all().item<bool>()) fail("retune", path_, ": NF4 tensor '", name, "' dequantizes to a NaN or inf");
    return w.view(s);
  }
  std::vector<float> v = files_->read_f32(name, /*check_finite=*/true);
  return torch::from_blob(v.data(), s, torch::kFloat32).to(torch::kFloat64);
}

std::string BaseWeights::describe() const {
  if (etq_) return nf4_.empty() ? ".etq, dense" : ".etq, NF4 projections dequantized";
  return "Hugging Face folder, " + stored_dtype_;
}

void check_same_architecture(const BaseWeights& a, const BaseWeights& b) {
  const model::ModelConfig &ca = a.config(), &cb = b.config();
  auto field = [&](const char* key, const auto& x, const auto& y) {
    if (x != y)
      fail("retune", b.path(), " is not the architecture of ", a.path(), ": config.json ", key, " is ", y,
           " there and ", x, " in the old base");
  };
  // Tensors first: a size that differs shows as the first tensor whose shape differs.
  for (const auto& t : a.tensors()) {
    if (!b.has(t.name))
      fail("retune", b.path(), ": has no tensor '", t.name, "' (", a.path(), " has it, ", shape_str(t.shape),
           "); the bases have different architectures");
    if (b.shape(t.name) != t.shape)
      fail("retune", "tensor '", t.name, "' is ", shape_str(t.shape), " in ", a.path(), " but ",
           shape_str(b.shape(t.name)), " in ", b.path(), "; the bases have different architectures");
  }
  for (const auto& t : b.tensors())
    if (!a.has(t.name))
      fail("retune", b.path(), ": has tensor '", t.name, "', which ", a.path(),
           " lacks; the bases have different architectures");
  field("model_type (family)", std::string(model::family_name(ca.family)), std::string(model::family_name(cb.family)));
  field("num_attention_heads", ca.num_heads, cb.num_heads);
  field("num_key_value_heads", ca.num_kv_heads, cb.num_kv_heads);
  field("head_dim", ca.head_dim, cb.head_dim);
  field("tie_word_embeddings", ca.tie_word_embeddings, cb.tie_word_embeddings);
}

}  // namespace et
