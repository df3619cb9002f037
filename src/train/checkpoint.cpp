#include "edgetune/train/checkpoint.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/safetensors.h"
#include "edgetune/version.h"

namespace et {
namespace {

const char* kMagic = "edgetune-checkpoint";

std::vector<std::string> list_checkpoints(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind("step-", 0) == 0 && n.size() > 17 && n.compare(n.size() - 12, 12, ".safetensors") == 0)
      out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());  // zero-padded step numbers sort in order
  return out;
}

}  // namespace

std::string save_checkpoint(const std::string& run_dir, const CheckpointState& s, int keep) {
  const std::string dir = path_join(run_dir, "checkpoints");
  make_dirs(dir);
  char name[64];
  std::snprintf(name, sizeof name, "step-%08lld.safetensors", static_cast<long long>(s.step));
  const std::string path = path_join(dir, name);
  std::vector<torch::Tensor> keep_alive;
  std::vector<TensorToWrite> tensors;
  auto add = [&](const std::string& prefix, const std::vector<std::pair<std::string, torch::Tensor>>& list) {
    for (const auto& kv : list) {
      auto t = kv.second.detach().to(torch::kCPU).to(torch::kFloat32).contiguous();
      keep_alive.push_back(t);
      std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
      tensors.push_back({prefix + kv.first, DType::f32, shape, t.data_ptr(), static_cast<size_t>(t.numel()) * 4});
    }
  };
  add("param/", s.params);
  add("optim/", s.optimizer);
  write_safetensors(path, tensors,
                    {{"format", kMagic}, {"version", "1"}, {"edgetune_version", EDGETUNE_VERSION},
                     {"step", std::to_string(s.step)}, {"data_epoch", std::to_string(s.data_epoch)},
                     {"data_cursor", std::to_string(s.data_cursor)}, {"plan", s.plan_json},
                     {"recipe", s.recipe_yaml}});
  auto all = list_checkpoints(dir);
  for (size_t i = 0; keep > 0 && i + static_cast<size_t>(keep) < all.size(); ++i)
    ::unlink(path_join(dir, all[i]).c_str());
  return path;
}

std::string latest_checkpoint(const std::string& run_dir) {
  auto all = list_checkpoints(path_join(run_dir, "checkpoints"));
  return all.empty() ? std::string() : path_join(path_join(run_dir, "checkpoints"), all.back());
}

CheckpointState load_checkpoint(const std::string& path) {
  SafetensorsFile f(path);
  const auto& md = f.metadata();
  auto get = [&](const char* key) {
    auto it = md.find(key);
    if (it == md.end()) fail("checkpoint", path, ": metadata '", key, "' is missing");
    return it->second;
  };
  if (get("format") != kMagic) fail("checkpoint", path, ": not an edgetune checkpoint");
  if (get("version") != "1") fail("checkpoint", path, ": unsupported checkpoint version ", get("version"));
  CheckpointState s;
  try {
    s.step = std::stoll(get("step"));
    s.data_epoch = std::stoull(get("data_epoch"));
    s.data_cursor = std::stoull(get("data_cursor"));
  } catch (const std::logic_error&) {
    fail("checkpoint", path, ": step or data position is not a number");
  }
  s.plan_json = get("plan");
  s.recipe_yaml = get("recipe");
  for (const auto& t : f.tensors()) {
    std::vector<float> v = f.read_f32(t.name);  // validates dtype and finiteness
    auto tensor = torch::from_blob(v.data(), t.shape, torch::kFloat32).clone();
    if (t.name.rfind("param/", 0) == 0) s.params.emplace_back(t.name.substr(6), tensor);
    else if (t.name.rfind("optim/", 0) == 0) s.optimizer.emplace_back(t.name.substr(6), tensor);
    else fail("checkpoint", path, ": unexpected tensor '", t.name, "'");
  }
  return s;
}

}  // namespace et
