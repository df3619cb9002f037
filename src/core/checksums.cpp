#include "edgetune/core/checksums.h"

#include <nlohmann/json.hpp>

#include "edgetune/core/error.h"
#include "edgetune/core/hash.h"

namespace et {

using nlohmann::json;

namespace {

std::string checksum_of(const uint8_t* p, size_t n) { return "fnv1a64w:" + hash_hex(hash_bytes64(p, n)); }

}  // namespace

void add_checksums(std::map<std::string, std::string>& metadata, const std::vector<TensorToWrite>& tensors) {
  json sums = json::object();
  for (const auto& t : tensors) sums[t.name] = checksum_of(static_cast<const uint8_t*>(t.data), t.nbytes);
  metadata[kChecksumsKey] = sums.dump();
}

bool has_checksums(const SafetensorsFile& f) { return f.metadata().count(kChecksumsKey) != 0; }

void verify_checksums(const SafetensorsFile& f) {
  auto it = f.metadata().find(kChecksumsKey);
  if (it == f.metadata().end()) return;
  const std::string& path = f.path();
  json sums;
  try {
    sums = json::parse(it->second);
  } catch (const json::exception& e) {
    fail("checksum", path, ": metadata 'checksums' is not valid JSON (", e.what(), "): the file is damaged");
  }
  if (!sums.is_object()) fail("checksum", path, ": metadata 'checksums' is not a JSON object: the file is damaged");
  for (const auto& t : f.tensors()) {
    auto s = sums.find(t.name);
    if (s == sums.end() || !s->is_string())
      fail("checksum", path, ": tensor '", t.name, "' has no checksum in the metadata: the file is damaged");
    const std::string want = s->get<std::string>();
    const std::string got = checksum_of(f.data(t), t.end - t.begin);
    if (want != got)
      fail("checksum", path, ": tensor '", t.name, "' fails its checksum (", got, "; the file says ", want,
           "): the file is damaged");
  }
  for (auto s = sums.begin(); s != sums.end(); ++s)
    if (!f.has(s.key()))
      fail("checksum", path, ": the checksums list tensor '", s.key(), "', which the file lacks: the file is damaged");
}

}  // namespace et
