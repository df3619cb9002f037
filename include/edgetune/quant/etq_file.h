// The .etq file: a quantized backbone in one file, written by `edgetune quantize`.
//
//   bytes 0..3   magic "ETQ\0"
//   bytes 4..7   format version, uint32 little-endian (1)
//   bytes 8..    a safetensors image holding
//     - dense tensors under their Hugging Face names, as stored in the source (embeddings, norms,
//       head, biases),
//     - for every NF4 weight <w>: <w>.nf4.packed (U8), <w>.nf4.absmax_q (U8), <w>.nf4.absmax2 (F32),
//       <w>.nf4.offset (F32 [1]), <w>.nf4.shape (I64), and one shared nf4.code8 (F32 [256]),
//     - the model's side files as U8 tensors file/<name> (config.json, tokenizer files, ...),
//     and metadata format "edgetune-etq", edgetune_version, source.
// Readers validate the magic, the version, and every NF4 weight's buffers against its shape.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "edgetune/core/safetensors.h"
#include "edgetune/quant/nf4.h"

namespace et::quant {

constexpr char kEtqMagic[4] = {'E', 'T', 'Q', '\0'};
constexpr uint32_t kEtqVersion = 1;

// True when `path` is a regular file that starts with the .etq magic.
bool is_etq_file(const std::string& path);

struct EtqContents {
  std::string path;
  std::unique_ptr<SafetensorsFile> file;           // dense tensors (and the raw NF4 buffers)
  std::map<std::string, Nf4Weight> nf4;            // by weight name, buffers on the CPU
  std::map<std::string, std::string> side_files;   // "config.json" -> its text, ...
  std::map<std::string, std::string> metadata;
  bool is_nf4_part(const std::string& tensor_name) const;  // true for <w>.nf4.*, nf4.code8, file/*
};

EtqContents read_etq(const std::string& path);

// Writes an .etq: `dense` tensors as they are (raw bytes from a source file), `quantized` NF4
// weights, and `side_files` (name -> bytes). Atomic.
struct EtqDenseTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;
};
// `extra_metadata` is added to the file's metadata (e.g. the source's weight fingerprints).
void write_etq(const std::string& path, const std::vector<EtqDenseTensor>& dense,
               const std::vector<const Nf4Weight*>& quantized, const std::map<std::string, std::string>& side_files,
               const std::string& source, const std::map<std::string, std::string>& extra_metadata = {});

}  // namespace et::quant
