// load_model: config.json + safetensors -> Model. Each expected tensor is validated
// (tensor_check.h), converted to float32 on the CPU straight from the memory map, then moved to
// the compute dtype and device.
#include <torch/cuda.h>

#include <map>

#include "edgetune/core/error.h"
#include "edgetune/core/log.h"
#include "edgetune/model/model.h"
#include "edgetune/model/rope.h"
#include "tensor_check.h"

namespace et::model {

torch::ScalarType parse_compute_dtype(const std::string& name, const std::string& what) {
  if (name == "float32" || name == "fp32" || name == "f32") return torch::kFloat32;
  if (name == "bfloat16" || name == "bf16") return torch::kBFloat16;
  fail(what, "unsupported compute dtype '", name, "' (use float32 or bfloat16)");
}

torch::Device parse_device(const std::string& name) {
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      fail("device", "'", name, "' asked for, but this libtorch build sees no CUDA device");
    try {
      return torch::Device(name);
    } catch (const std::exception&) {
      fail("device", "'", name, "' is not a device (use cpu, cuda or cuda:N)");
    }
  }
  fail("device", "unknown device '", name, "' (use cpu or cuda)");
}

namespace {

torch::Tensor read_tensor(const SafetensorsSet& files, const ExpectedTensor& spec, const LoadOptions& o) {
  const TensorInfo& info = check_tensor(files, spec, /*check_values=*/true);
  torch::Tensor t = torch::empty(spec.shape, torch::kFloat32);
  convert_to_f32(info.dtype, files.file_of(spec.name).data(info), t.data_ptr<float>(),
                 static_cast<size_t>(info.numel()));
  return t.to(o.device, o.dtype);
}

Linear make_linear(std::map<std::string, torch::Tensor>& w, const std::string& prefix, int layer,
                   LinearKind kind, int64_t in, int64_t out) {
  Linear lin;
  lin.name = prefix + "layers." + std::to_string(layer) + "." + linear_kind_parent(kind) + "." +
             linear_kind_name(kind);
  lin.layer = layer;
  lin.kind = kind;
  lin.in_features = in;
  lin.out_features = out;
  lin.weight = w.at(lin.weight_name());
  auto b = w.find(lin.bias_name());
  if (b != w.end()) lin.bias = b->second;
  return lin;
}

}  // namespace

Model load_model(const std::string& folder, const LoadOptions& options) {
  ET_CHECK(options.dtype == torch::kFloat32 || options.dtype == torch::kBFloat16, "model",
           "compute dtype must be float32 or bfloat16");
  Model m;
  m.folder = folder;
  m.config = load_config(folder);
  m.device = options.device;
  m.dtype = options.dtype;
  const ModelConfig& c = m.config;
  SafetensorsSet files(folder);
  const auto specs = expected_tensors(c, files, &m.prefix, &m.tied_head);

  std::map<std::string, torch::Tensor> w;
  for (const auto& spec : specs) {
    const std::string name = dtype_name(files.get(spec.name).dtype);
    m.stored_dtype = m.stored_dtype.empty() || m.stored_dtype == name ? name : "mixed";
    w[spec.name] = read_tensor(files, spec, options);
  }
  const std::string& p = m.prefix;
  m.embed_tokens = w.at(p + "embed_tokens.weight");
  m.norm = w.at(p + "norm.weight");
  m.lm_head = m.tied_head ? m.embed_tokens : w.at(specs.back().name);

  const int64_t H = c.hidden_size, I = c.intermediate_size;
  for (int l = 0; l < static_cast<int>(c.num_layers); ++l) {
    DecoderLayer L;
    L.index = l;
    L.type = c.layer_types[static_cast<size_t>(l)];
    const std::string lp = p + "layers." + std::to_string(l) + ".";
    L.input_layernorm = w.at(lp + "input_layernorm.weight");
    L.post_attention_layernorm = w.at(lp + "post_attention_layernorm.weight");
    if (c.gemma_norms) {
      L.pre_feedforward_layernorm = w.at(lp + "pre_feedforward_layernorm.weight");
      L.post_feedforward_layernorm = w.at(lp + "post_feedforward_layernorm.weight");
    }
    if (c.qk_norm) {
      L.q_norm = w.at(lp + "self_attn.q_norm.weight");
      L.k_norm = w.at(lp + "self_attn.k_norm.weight");
    }
    L.q_proj = make_linear(w, p, l, LinearKind::q_proj, H, c.q_out());
    L.k_proj = make_linear(w, p, l, LinearKind::k_proj, H, c.kv_out());
    L.v_proj = make_linear(w, p, l, LinearKind::v_proj, H, c.kv_out());
    L.o_proj = make_linear(w, p, l, LinearKind::o_proj, c.q_out(), H);
    L.gate_proj = make_linear(w, p, l, LinearKind::gate_proj, H, I);
    L.up_proj = make_linear(w, p, l, LinearKind::up_proj, H, I);
    L.down_proj = make_linear(w, p, l, LinearKind::down_proj, I, H);
    m.layers.push_back(std::move(L));
  }
  m.inv_freq_full = rope_inv_freq(c.rope_full, c.head_dim).to(m.device);
  m.inv_freq_sliding = rope_inv_freq(c.rope_sliding, c.head_dim).to(m.device);
  log_info("loaded ", folder, ": ", family_name(c.family), ", ", c.num_layers, " layers, ",
           parameter_count(m), " parameters, stored ", m.stored_dtype, ", computing in ",
           c10::toString(m.dtype), " on ", m.device.str());
  return m;
}

}  // namespace et::model
