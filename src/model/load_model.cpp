// load_model: config.json + safetensors -> Model. Each expected tensor is validated
// (tensor_check.h), converted to float32 on the CPU straight from the memory map, then moved to
// the compute dtype and device.
#include <torch/cuda.h>

#include <map>

#include "edgetune/core/error.h"
#include "edgetune/core/log.h"
#include "edgetune/model/model.h"
#include "edgetune/model/rope.h"
#include "edgetune/quant/etq_file.h"
#include "edgetune/quant/nf4.h"
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
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

// A validated tensor as float32 on the CPU.
torch::Tensor read_tensor(const SafetensorsSet& files, const ExpectedTensor& spec) {
  const TensorInfo& info = check_tensor(files, spec, /*check_values=*/true);
  torch::Tensor t = torch::empty(spec.shape, torch::kFloat32);
  convert_to_f32(info.dtype, files.file_of(spec.name).data(info), t.data_ptr<float>(),
                 static_cast<size_t>(info.numel()));
  return t;
}

bool is_projection(const std::string& name) {
  static const char* kinds[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  for (const char* k : kinds) {
    const std::string suffix = std::string(k) + ".weight";
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        name.find(".layers.") != std::string::npos)
      return true;
  }
  return false;
}

// transformers' _init_weights: normal(0, initializer_range) for matrices and embeddings, zero
// biases, norms at 1 (Gemma stores w - 1, so 0).
torch::Tensor random_tensor(const ExpectedTensor& spec, const ModelConfig& c, at::Generator& gen) {
  const bool is_norm = spec.name.find("norm.weight") != std::string::npos;
  if (is_norm) return c.gemma_norms ? torch::zeros(spec.shape) : torch::ones(spec.shape);
  if (spec.shape.size() == 1) return torch::zeros(spec.shape);
  auto t = at::empty(spec.shape, at::TensorOptions().dtype(at::kFloat));
  t.normal_(0.0, 0.02, gen);
  return t;
}

Linear make_linear(std::map<std::string, torch::Tensor>& w, std::map<std::string, std::shared_ptr<quant::Nf4Weight>>& q,
                   const std::string& prefix, int layer, LinearKind kind, int64_t in, int64_t out) {
  Linear lin;
  lin.name = prefix + "layers." + std::to_string(layer) + "." + linear_kind_parent(kind) + "." +
             linear_kind_name(kind);
  lin.layer = layer;
  lin.kind = kind;
  lin.in_features = in;
  lin.out_features = out;
  auto qi = q.find(lin.weight_name());
  if (qi != q.end())
    lin.nf4 = qi->second;
  else
    lin.weight = w.at(lin.weight_name());
  auto b = w.find(lin.bias_name());
  if (b != w.end()) lin.bias = b->second;
  return lin;
}

// bfloat16 compute on the CPU: some libtorch builds route 16-bit GEMMs to a oneDNN that cannot
// run them (Debian 12's arm64 libtorch 1.13 fails every bfloat16 GEMM above oneDNN's size
// threshold: "could not create a primitive descriptor iterator"), while libtorch's own kernels
// can. A small GEMM probes it; on failure oneDNN is turned off for the process and the probe
// repeated; if that fails too, the error says to compute in float32.
void ensure_cpu_half_matmul(torch::ScalarType dt) {
  auto probe = [dt] {
    const torch::Tensor a = torch::ones({64, 96}, torch::TensorOptions().dtype(dt));
    const torch::Tensor b = torch::ones({96, 80}, torch::TensorOptions().dtype(dt));
    return at::mm(a, b).sum().item<double>() == 96.0 * 64 * 80;
  };
  std::string first;
  try {
    if (probe()) return;
    first = "wrong result";
  } catch (const std::exception& e) {  // oneDNN throws its own dnnl::error, not c10::Error
    first = e.what();
  }
  first = first.substr(0, first.find('\n'));
  at::globalContext().setUserEnabledMkldnn(false);
  try {
    if (probe()) {
      log_info("model: ", c10::toString(dt), " GEMMs on this CPU fail in oneDNN (", first,
               "); oneDNN is off for this process, libtorch's own kernels run them");
      return;
    }
  } catch (const std::exception&) {
  }
  fail("model", "computing in ", c10::toString(dt), " on this CPU fails in this libtorch (", first,
       "); use model.dtype: float32");
}

}  // namespace

Model load_model(const std::string& folder, const LoadOptions& options) {
  ET_CHECK(options.dtype == torch::kFloat32 || options.dtype == torch::kBFloat16, "model",
           "compute dtype must be float32 or bfloat16");
  if (options.device.is_cpu() && options.dtype != torch::kFloat32) ensure_cpu_half_matmul(options.dtype);
  Model m;
  m.folder = folder;
  std::unique_ptr<quant::EtqContents> etq;
  if (quant::is_etq_file(folder)) {
    etq = std::make_unique<quant::EtqContents>(quant::read_etq(folder));
    auto cfg = etq->side_files.find("config.json");
    if (cfg == etq->side_files.end()) fail("model", folder, ": the .etq file holds no config.json");
    m.config = parse_config(cfg->second, folder + ":config.json");
  } else {
    m.config = load_config(folder);
  }
  m.device = options.device;
  m.dtype = options.dtype;
  const ModelConfig& c = m.config;
  std::map<std::string, torch::Tensor> w;
  std::map<std::string, std::shared_ptr<quant::Nf4Weight>> q;
  auto store = [&](const ExpectedTensor& spec, torch::Tensor t32) {
    if (options.quantize_nf4 && is_projection(spec.name))
      q[spec.name] = std::make_shared<quant::Nf4Weight>(quant::nf4_quantize(t32, spec.name).to(options.device));
    else
      w[spec.name] = t32.to(options.device, options.dtype);
  };
  std::vector<ExpectedTensor> specs;
  if (options.init_random) {
    m.prefix = "model.";
    m.tied_head = c.tie_word_embeddings;
    specs = expected_tensors(c, m.prefix, m.head_name);
    m.stored_dtype = "random";
    auto gen = at::detail::createCPUGenerator(options.init_seed);
    for (const auto& spec : specs) store(spec, random_tensor(spec, c, gen));
  } else if (etq) {
    // Projections arrive quantized; with quantize_nf4 off they are dequantized to dense weights.
    auto nf4 = std::move(etq->nf4);
    SafetensorsSet files(std::move(etq->file), folder);
    specs = expected_tensors(c, files, &m.prefix, &m.tied_head);
    m.stored_dtype = "NF4";
    for (const auto& spec : specs) {
      auto it = nf4.find(spec.name);
      if (it == nf4.end()) {
        store(spec, read_tensor(files, spec));
        continue;
      }
      if (it->second.shape != spec.shape)
        fail("model", folder, ": NF4 weight '", spec.name, "' has the wrong shape for config.json");
      if (options.quantize_nf4)
        q[spec.name] = std::make_shared<quant::Nf4Weight>(it->second.to(options.device));
      else
        w[spec.name] = quant::nf4_dequantize(it->second, options.dtype, options.device);
    }
  } else {
    SafetensorsSet files(folder);
    specs = expected_tensors(c, files, &m.prefix, &m.tied_head);
    for (const auto& spec : specs) {
      const std::string name = dtype_name(files.get(spec.name).dtype);
      m.stored_dtype = m.stored_dtype.empty() || m.stored_dtype == name ? name : "mixed";
      store(spec, read_tensor(files, spec));
    }
  }
  if (!m.tied_head) m.head_name = specs.back().name;
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
    L.q_proj = make_linear(w, q, p, l, LinearKind::q_proj, H, c.q_out());
    L.k_proj = make_linear(w, q, p, l, LinearKind::k_proj, H, c.kv_out());
    L.v_proj = make_linear(w, q, p, l, LinearKind::v_proj, H, c.kv_out());
    L.o_proj = make_linear(w, q, p, l, LinearKind::o_proj, c.q_out(), H);
    L.gate_proj = make_linear(w, q, p, l, LinearKind::gate_proj, H, I);
    L.up_proj = make_linear(w, q, p, l, LinearKind::up_proj, H, I);
    L.down_proj = make_linear(w, q, p, l, LinearKind::down_proj, I, H);
    m.layers.push_back(std::move(L));
  }
  m.inv_freq_full = rope_inv_freq(c.rope_full, c.head_dim).to(m.device);
  m.inv_freq_sliding = rope_inv_freq(c.rope_sliding, c.head_dim).to(m.device);
  log_info("loaded ", folder, ": ", family_name(c.family), ", ", c.num_layers, " layers, ",
           parameter_count(m), " parameters, stored ", m.stored_dtype, q.empty() ? "" : " (projections in NF4)", ", computing in ",
           c10::toString(m.dtype), " on ", m.device.str());
  return m;
}

}  // namespace et::model
