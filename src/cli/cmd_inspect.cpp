// `edgetune inspect MODEL`: what a Hugging Face model folder holds, read from config.json and the
// safetensors headers (every tensor is checked for presence, shape and finite values, but the
// weights are not loaded): architecture, sizes, layer types, RoPE, parameter count, dtype, the
// linear matrices with their shapes, the head, and a tokenizer summary. Output on stdout.
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>

#include "commands.h"
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/gguf.h"
#include "edgetune/core/safetensors.h"
#include "edgetune/model/config.h"
#include "edgetune/model/linear.h"
#include "edgetune/model/model.h"
#include "edgetune/model/model_files.h"
#include "edgetune/quant/etq_file.h"
#include "edgetune/tokenize/tokenizer.h"

namespace et::cli {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string rope_str(const model::RopeSpec& r) {
  std::ostringstream os;
  os << model::rope_type_name(r.type) << " theta " << r.theta;
  if (r.type != model::RopeType::standard) os << " factor " << r.factor;
  if (r.type == model::RopeType::llama3)
    os << " low " << r.low_freq_factor << " high " << r.high_freq_factor << " original_max "
       << r.original_max_position_embeddings;
  return os.str();
}

std::string layer_types_str(const model::ModelConfig& c) {
  std::vector<int64_t> full, sliding;
  for (size_t i = 0; i < c.layer_types.size(); ++i)
    (c.layer_types[i] == model::LayerType::sliding_attention ? sliding : full).push_back(static_cast<int64_t>(i));
  if (sliding.empty()) return "all full_attention";
  std::ostringstream os;
  os << sliding.size() << " sliding_attention (window " << c.sliding_window << "), " << full.size()
     << " full_attention";
  if (!full.empty()) {
    os << " (layers";
    for (auto i : full) os << " " << i;
    os << ")";
  }
  return os.str();
}

std::string token_str(const Tokenizer& tok, int32_t id) {
  if (id < 0) return "none";
  return std::to_string(id) + " " + tok.id_to_piece(id);
}

void print_config(const model::ModelConfig& c) {
  std::printf("architecture   %s (model_type %s, family %s)\n", c.architecture.empty() ? "-" : c.architecture.c_str(),
              c.model_type.c_str(), model::family_name(c.family));
  std::printf("layers         %lld: %s\n", static_cast<long long>(c.num_layers), layer_types_str(c).c_str());
  std::printf("hidden         %lld, intermediate %lld, vocab %lld\n", static_cast<long long>(c.hidden_size),
              static_cast<long long>(c.intermediate_size), static_cast<long long>(c.vocab_size));
  std::printf("attention      %lld heads, %lld kv heads, head_dim %lld, scale %.6g%s%s\n",
              static_cast<long long>(c.num_heads), static_cast<long long>(c.num_kv_heads),
              static_cast<long long>(c.head_dim), c.attn_scale, c.qk_norm ? ", q/k norm" : "",
              c.qkv_bias ? ", q/k/v bias" : "");
  std::printf("mlp            %s%s\n", model::activation_name(c.activation), c.mlp_bias ? ", bias" : "");
  std::printf("rope           %s", rope_str(c.rope_full).c_str());
  if (c.sliding_window > 0 || c.family == model::Family::gemma3)
    std::printf("; sliding layers: %s", rope_str(c.rope_sliding).c_str());
  std::printf("\n");
  std::printf("norms          rms_norm_eps %g%s\n", c.rms_norm_eps,
              c.gemma_norms ? ", (1 + w) weights, 4 per block, embeddings x sqrt(hidden)" : "");
  std::printf("max positions  %lld\n", static_cast<long long>(c.max_position_embeddings));
}

void print_tokenizer(const std::string& folder, const model::ModelConfig& c) {
  const bool has_tok =
      file_exists(path_join(folder, "tokenizer.json")) || file_exists(path_join(folder, "tokenizer.model"));
  if (!has_tok) {
    std::printf("tokenizer      none (no tokenizer.json or tokenizer.model)\n");
    return;
  }
  auto tok = load_tokenizer(folder);
  std::printf("tokenizer      %s, vocab %d, bos %s, eos %s%s\n", tok->kind().c_str(), tok->vocab_size(),
              token_str(*tok, tok->bos_id()).c_str(), token_str(*tok, tok->eos_id()).c_str(),
              tok->add_bos() ? ", adds BOS" : "");
  if (tok->vocab_size() != c.vocab_size)
    std::printf("               (tokenizer vocab %d differs from the model's %lld)\n", tok->vocab_size(),
                static_cast<long long>(c.vocab_size));
}

void inspect_folder(const std::string& path) {
  if (!is_directory(path))
    fail("inspect", path, file_exists(path) ? ": not a model folder, .etq or .gguf file" : ": no such folder or file");
  const model::ModelConfig c = model::load_config(path);
  const SafetensorsSet files(path);
  std::string prefix;
  bool tied = false;
  const auto expected = model::expected_tensors(c, files, &prefix, &tied);
  const std::string stored = model::validate_tensors(c, files, /*check_values=*/true);
  int64_t params = 0;
  for (const auto& t : expected) params += files.get(t.name).numel();

  std::printf("model          %s\n", path.c_str());
  print_config(c);
  std::printf("head           %s\n", tied ? "tied to embed_tokens" : ("untied (" + expected.back().name + ")").c_str());
  std::printf("parameters     %s\n", with_commas(params).c_str());
  std::printf("dtype          stored %s, config %s\n", stored.c_str(), c.torch_dtype.empty() ? "-" : c.torch_dtype.c_str());
  std::printf("bos / eos      %lld /", static_cast<long long>(c.bos_token_id));
  for (auto id : model::stop_token_ids(path, c)) std::printf(" %lld", static_cast<long long>(id));
  std::printf("\n");

  std::printf("linear matrices (%lld):\n", static_cast<long long>(c.num_layers * model::kNumLinearKinds));
  std::printf("  %-5s %-9s %-13s %s\n", "layer", "module", "shape", "tensor");
  for (const auto& t : expected) {
    for (int k = 0; k < model::kNumLinearKinds; ++k) {
      const auto kind = static_cast<model::LinearKind>(k);
      const std::string suffix = std::string(model::linear_kind_parent(kind)) + "." + model::linear_kind_name(kind) + ".weight";
      if (!ends_with(t.name, suffix)) continue;
      const std::string rest = t.name.substr(prefix.size() + 7);  // after "<prefix>layers."
      std::printf("  %-5s %-9s %-13s %s\n", rest.substr(0, rest.find('.')).c_str(), model::linear_kind_name(kind),
                  shape_str(t.shape).c_str(), t.name.c_str());
    }
  }
  print_tokenizer(path, c);
}

void inspect_etq(const std::string& path) {
  const quant::EtqContents etq = quant::read_etq(path);
  const std::string folder = model::model_files_folder(path);
  const model::ModelConfig c = model::load_config(folder);
  int64_t nf4_values = 0, nf4_bytes = 0, dense_values = 0;
  for (const auto& kv : etq.nf4) {
    nf4_values += kv.second.numel;
    nf4_bytes += kv.second.nbytes();
  }
  for (const auto& t : etq.file->tensors())
    if (!etq.is_nf4_part(t.name)) dense_values += t.numel();
  std::printf("model          %s (.etq, NF4 backbone; quantized from %s)\n", path.c_str(),
              etq.metadata.count("source") ? etq.metadata.at("source").c_str() : "-");
  print_config(c);
  std::printf("parameters     %s (%s in NF4 projections, %s dense)\n", with_commas(nf4_values + dense_values).c_str(),
              with_commas(nf4_values).c_str(), with_commas(dense_values).c_str());
  std::printf("NF4            %zu matrices, %.2f MB (%.3f bits per value with double-quantized absmax)\n",
              etq.nf4.size(), nf4_bytes / 1048576.0, nf4_values > 0 ? 8.0 * nf4_bytes / nf4_values : 0.0);
  std::printf("embedded files");
  for (const auto& kv : etq.side_files) std::printf(" %s", kv.first.c_str());
  std::printf("\n");
  print_tokenizer(folder, c);
}

void inspect_gguf(const std::string& path) {
  const GgufFile g(path);
  std::printf("model          %s (GGUF v%u, %zu tensors, %zu metadata keys)\n", path.c_str(), g.version(),
              g.tensors().size(), g.metadata().size());
  for (const auto& kv : g.metadata()) {
    if (kv.first.rfind("tokenizer.ggml.", 0) == 0 && kv.second.type == GgufType::array) continue;
    std::printf("  %-40s %s\n", kv.first.c_str(), kv.second.to_string().c_str());
  }
  std::map<std::string, int64_t> by_type;
  uint64_t bytes = 0;
  for (const auto& t : g.tensors()) {
    ++by_type[ggml_type_name(t.type)];
    bytes += t.nbytes;
  }
  std::printf("tensors       ");
  for (const auto& kv : by_type) std::printf(" %s x%lld", kv.first.c_str(), static_cast<long long>(kv.second));
  std::printf(" (%.2f MB)\n", bytes / 1048576.0);
  if (g.has("tokenizer.ggml.model")) {
    auto tok = load_tokenizer(path);
    std::printf("tokenizer      %s, vocab %d, bos %s, eos %s\n", tok->kind().c_str(), tok->vocab_size(),
                token_str(*tok, tok->bos_id()).c_str(), token_str(*tok, tok->eos_id()).c_str());
  }
}

void run_inspect(const std::string& path) {
  if (quant::is_etq_file(path)) return inspect_etq(path);
  if (ends_with(path, ".gguf")) return inspect_gguf(path);
  inspect_folder(path);
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Describe a model: architecture, sizes, matrices, tokenizer");
  auto path = std::make_shared<std::string>();
  cmd->add_option("MODEL", *path, "Hugging Face model folder, .etq or .gguf file")->required();
  cmd->callback([path] { run_inspect(*path); });
}

}  // namespace et::cli
