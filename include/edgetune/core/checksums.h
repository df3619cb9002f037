// Per-tensor checksums in a safetensors file's metadata, so a reader tells a damaged file (flipped
// bits, a torn write patched over) from a good one before using any of it.
//
// The metadata entry "checksums" is a JSON object of tensor name -> "fnv1a64w:<16 hex digits>",
// the 64-bit hash of core/hash.h over the tensor's bytes as stored.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "edgetune/core/safetensors.h"

namespace et {

inline constexpr const char* kChecksumsKey = "checksums";

// Adds "checksums" for `tensors` to `metadata` (before write_safetensors).
void add_checksums(std::map<std::string, std::string>& metadata, const std::vector<TensorToWrite>& tensors);

// True when the file's metadata carries checksums.
bool has_checksums(const SafetensorsFile& file);

// Recomputes every tensor's checksum against the metadata's; throws naming the file and the first
// tensor that differs, has none, or is listed but absent. A file without checksums passes.
void verify_checksums(const SafetensorsFile& file);

}  // namespace et
