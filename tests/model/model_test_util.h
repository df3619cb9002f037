// Helpers for the model tests: where the golden folders are, reading golden tensors, copying a
// model folder to a temp dir to break it, and the reference next-token loss.
#pragma once
#include <torch/types.h>

#include <ftw.h>
#include <cstdio>
#include <unistd.h>

#include <string>
#include <vector>

#include "edgetune/core/file_io.h"
#include "edgetune/core/safetensors.h"
#include "test_util.h"

namespace et::test {

inline const std::vector<std::string>& golden_families() {
  static const std::vector<std::string> f = {"llama", "qwen2", "qwen3", "gemma3"};
  return f;
}

inline std::string golden_dir(const std::string& family) {
  return path_join(path_join(source_dir(), "tests/golden"), family);
}

// A tensor of golden.safetensors (F32 or I64) as a CPU torch tensor.
inline torch::Tensor read_golden(const std::string& family, const std::string& name) {
  SafetensorsFile f(path_join(golden_dir(family), "golden.safetensors"));
  const TensorInfo& t = f.get(name);
  torch::ScalarType st = t.dtype == DType::i64 ? torch::kInt64 : torch::kFloat32;
  if (t.dtype != DType::i64 && t.dtype != DType::f32) throw std::runtime_error("golden dtype");
  torch::Tensor out = torch::empty(t.shape, st);
  std::memcpy(out.data_ptr(), f.data(t), t.end - t.begin);
  return out;
}

// Mean next-token cross-entropy (transformers' causal LM loss with labels = input ids).
inline torch::Tensor next_token_loss(const torch::Tensor& logits, const torch::Tensor& ids) {
  const int64_t V = logits.size(-1);
  auto lp = torch::log_softmax(logits.slice(1, 0, -1).reshape({-1, V}).to(torch::kFloat32), -1);
  auto target = ids.slice(1, 1).reshape({-1, 1});
  return -lp.gather(1, target).mean();
}

// Copies config.json and model.safetensors (and any other plain files) of `src` into a new
// temp dir and returns it.
inline std::string copy_model_folder(const std::string& src, const std::string& tag) {
  std::string dst = temp_dir(tag);
  for (const char* f : {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
                        "tokenizer.model", "tokenizer_config.json"}) {
    std::string p = path_join(src, f);
    if (file_exists(p)) write_file_atomic(path_join(dst, f), read_text_file(p));
  }
  return dst;
}

// Removes a directory tree. POSIX nftw rather than std::filesystem: the CUDA libtorch wheels
// export their own std::filesystem symbols, and remove_all resolved there crashes.
inline void remove_tree(const std::string& path) {
  nftw(
      path.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
      FTW_DEPTH | FTW_PHYS);
}

// A temp dir removed (with its contents) when the scope ends.
struct ScopedDir {
  std::string path;
  explicit ScopedDir(std::string p) : path(std::move(p)) {}
  ~ScopedDir() { remove_tree(path); }
};

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kCPU, torch::kFloat64) - b.to(torch::kCPU, torch::kFloat64)).abs().max().item<double>();
}

}  // namespace et::test
