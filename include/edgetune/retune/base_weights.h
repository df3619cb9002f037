// The weights of a base model read one tensor at a time, for comparing two releases without
// holding either in memory: a Hugging Face folder (safetensors, memory-mapped, any float dtype) or
// an .etq file (NF4 projections dequantized with the bitsandbytes numerics, the other tensors as
// stored). Values come back as float64 on the CPU.
#pragma once
#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "edgetune/core/safetensors.h"
#include "edgetune/model/config.h"
#include "edgetune/model/model.h"
#include "edgetune/quant/nf4.h"

namespace et {

class BaseWeights {
 public:
  // Opens and indexes `path`; every tensor config.json implies must be present with that shape
  // (errors name the file and the tensor). Values are read (and checked finite) by read().
  explicit BaseWeights(const std::string& path);
  const std::string& path() const { return path_; }
  // True for an .etq file: its projections are NF4 and read() dequantizes them.
  bool nf4() const { return !nf4_.empty(); }
  bool is_etq() const { return etq_; }
  const model::ModelConfig& config() const { return config_; }
  // Every tensor of the model (names and shapes), in the order config.json implies.
  const std::vector<model::ExpectedTensor>& tensors() const { return tensors_; }
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  // The shape of a tensor; throws naming the file and the tensor when absent.
  const std::vector<int64_t>& shape(const std::string& name) const;
  // One tensor as float64 on the CPU (an NF4 weight dequantized to float32 first, exactly as the
  // model computes with it). A NaN or inf is an error naming the file and the tensor.
  torch::Tensor read(const std::string& name) const;
  // "Hugging Face folder, F32", ".etq, NF4 projections dequantized".
  std::string describe() const;

 private:
  std::string path_;
  bool etq_ = false;
  model::ModelConfig config_;
  std::unique_ptr<SafetensorsSet> files_;
  std::map<std::string, quant::Nf4Weight> nf4_;
  std::vector<model::ExpectedTensor> tensors_;
  std::map<std::string, size_t> index_;
  std::string stored_dtype_;
};

// Throws unless `a` and `b` have the same architecture: the same family and attention layout, and
// every tensor present in both with the same shape (the error names the first tensor that differs,
// or the config.json key).
void check_same_architecture(const BaseWeights& a, const BaseWeights& b);

}  // namespace et
