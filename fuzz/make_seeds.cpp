// make_seeds OUT_DIR SOURCE_DIR SHARED_DIR: the generated part of the fuzz seed corpora, one folder
// per target under OUT_DIR (scripts/fuzz.sh adds the real files: configs, tokenizers, recipes,
// trajectories). From the repository's tiny golden Llama (tests/golden/llama) it writes a patch, a
// checkpoint and an .etq; small safetensors of every float dtype; and small GGUF vocabularies cut
// from the real ones in ../shared/tokenizers/gguf-vocab (their first tokens and merges).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "edgetune/adapt/adapters.h"
#include "edgetune/adapt/plan.h"
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/gguf.h"
#include "edgetune/core/log.h"
#include "edgetune/core/safetensors.h"
#include "edgetune/export/patch.h"
#include "edgetune/model/model.h"
#include "edgetune/model/model_files.h"
#include "edgetune/train/checkpoint.h"

using namespace et;

namespace {

void small_safetensors(const std::string& dir) {
  std::vector<float> a = {1, -2, 3.5f, 0, 1e-3f, 7};
  std::vector<uint16_t> h = {0x3c00, 0xc000, 0x0001, 0x7bff};  // f16: 1, -2, a subnormal, max
  std::vector<uint16_t> b = {0x3f80, 0xc000, 0x0080, 0x7f7f};  // bf16
  write_safetensors(path_join(dir, "dtypes.safetensors"),
                    {{"a", DType::f32, {2, 3}, a.data(), a.size() * 4},
                     {"h", DType::f16, {4}, h.data(), h.size() * 2},
                     {"b", DType::bf16, {2, 2}, b.data(), b.size() * 2}},
                    {{"format", "pt"}, {"note", "a seed"}});
  write_safetensors(path_join(dir, "empty.safetensors"), {}, {});
}

void small_gguf(const std::string& real, const std::string& out) {
  GgufFile f(real);
  const size_t keep_tokens = 300, keep_merges = 200;
  std::vector<std::pair<std::string, GgufValue>> md;
  for (const auto& kv : f.metadata()) {
    GgufValue v = kv.second;
    if (v.type == GgufType::array) {
      const size_t keep = kv.first == "tokenizer.ggml.merges" ? keep_merges : keep_tokens;
      if (v.items.size() > keep) v.items.resize(keep);
    }
    if (kv.first.find("_token_id") != std::string::npos && v.is_integer() && v.u >= keep_tokens) continue;
    md.emplace_back(kv.first, v);
  }
  std::vector<float> w = {0.5f, -1, 2, 0};
  write_gguf(out, md, {{"blk.0.attn_q.weight", GgmlType::f32, {2, 2}, w.data(), w.size() * 4}});
}

void patch_and_checkpoint(const std::string& golden, const std::string& out) {
  model::Model m = model::load_model(golden);
  AdapterOptions o;
  o.rank = 1;
  o.alpha = 2;
  o.targets = {"q_proj", "v_proj"};
  AdapterSet a = create_adapters(plan_all(m, o), 1, torch::kCPU);
  write_patch(path_join(out, "patch/patch.safetensors"), make_patch(a, golden, "train:\n  lr: 0.001\n"));

  CheckpointState s;
  s.step = 3;
  s.optimizer_steps = 2;
  s.data_epoch = 1;
  s.data_cursor = 5;
  s.plan_json = a.plan.to_json().dump();
  s.recipe_yaml = "train:\n  max_steps: 4\n";
  for (const auto& kv : a.named_parameters()) {
    s.params.emplace_back(kv.first, kv.second.detach());
    s.optimizer.emplace_back(kv.first + ".exp_avg", torch::zeros_like(kv.second));
    s.optimizer.emplace_back(kv.first + ".exp_avg_sq", torch::ones_like(kv.second));
  }
  const std::string run = path_join(out, "checkpoint-run");
  const std::string ck = save_checkpoint(run, s, 1);
  write_file_atomic(path_join(out, "checkpoint/step.safetensors"), read_text_file(ck));
  model::quantize_to_etq(golden, path_join(out, "etq/llama.etq"));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: make_seeds OUT_DIR SOURCE_DIR SHARED_DIR\n");
    return 2;
  }
  set_log_level(LogLevel::warn);
  const std::string out = argv[1], src = argv[2], shared = argv[3];
  try {
    for (const char* t : {"safetensors", "gguf", "patch", "checkpoint", "etq"}) make_dirs(path_join(out, t));
    small_safetensors(path_join(out, "safetensors"));
    const std::string vocab = path_join(shared, "tokenizers/gguf-vocab");
    for (const char* name : {"ggml-vocab-llama-spm", "ggml-vocab-gpt-2", "ggml-vocab-deepseek-coder"}) {
      const std::string real = path_join(vocab, std::string(name) + ".gguf");
      if (file_exists(real)) small_gguf(real, path_join(out, "gguf/" + std::string(name) + "-small.gguf"));
    }
    patch_and_checkpoint(path_join(src, "tests/golden/llama"), out);
  } catch (const Error& e) {
    std::fprintf(stderr, "make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
