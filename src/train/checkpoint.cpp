#include "edgetune/train/checkpoint.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "edgetune/core/checksums.h"
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/log.h"
#include "edgetune/core/safetensors.h"
#include "edgetune/version.h"

namespace et {
namespace {

const char* kMagic = "edgetune-checkpoint";

std::vector<std::string> checkpoint_names(const std::string& dir) {
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

// "<target>.tmp.<digits>": the temp file of an AtomicFile (core/file_io.h) writing <target>; sets
// *target.
bool is_atomic_temp(const std::string& name, std::string* target) {
  const auto pos = name.rfind(".tmp.");
  if (pos == std::string::npos || pos == 0 || pos + 5 >= name.size()) return false;
  if (!std::all_of(name.begin() + static_cast<std::ptrdiff_t>(pos + 5), name.end(),
                   [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  *target = name.substr(0, pos);
  return true;
}

// Whether a run writes <target> into `folder` (one of run_dir, checkpoints, peft, model): only
// those partial files are the run's to remove (a run folder may be shared with other files, e.g.
// retune -o writes next to whatever is there).
bool is_run_output(const std::string& folder, const std::string& target) {
  if (folder == "checkpoints") return target.rfind("step-", 0) == 0;
  if (folder == "peft") return target.rfind("adapter_", 0) == 0;
  if (folder == "model") return true;
  for (const char* f : {"recipe.resolved.yaml", "metrics.jsonl", "plan.json", "patch.safetensors"})
    if (target == f) return true;
  return false;
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
  std::map<std::string, std::string> md = {
      {"format", kMagic},
      {"version", "2"},
      {"edgetune_version", EDGETUNE_VERSION},
      {"step", std::to_string(s.step)},
      {"optimizer_steps", std::to_string(s.optimizer_steps < 0 ? s.step : s.optimizer_steps)},
      {"data_epoch", std::to_string(s.data_epoch)},
      {"data_cursor", std::to_string(s.data_cursor)},
      {"plan", s.plan_json},
      {"recipe", s.recipe_yaml}};
  add_checksums(md, tensors);
  write_safetensors(path, tensors, md);
  auto all = checkpoint_names(dir);
  for (size_t i = 0; keep > 0 && i + static_cast<size_t>(keep) < all.size(); ++i)
    ::unlink(path_join(dir, all[i]).c_str());
  return path;
}

std::vector<std::string> list_checkpoints(const std::string& run_dir) {
  const std::string dir = path_join(run_dir, "checkpoints");
  std::vector<std::string> out;
  for (const auto& n : checkpoint_names(dir)) out.push_back(path_join(dir, n));
  return out;
}

std::string latest_checkpoint(const std::string& run_dir) {
  auto all = list_checkpoints(run_dir);
  return all.empty() ? std::string() : all.back();
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
  const std::string version = get("version");
  if (version != "1" && version != "2") fail("checkpoint", path, ": unsupported checkpoint version ", version);
  if (version == "2" && !has_checksums(f)) fail("checkpoint", path, ": metadata 'checksums' is missing: the file is damaged");
  verify_checksums(f);
  CheckpointState s;
  try {
    s.step = std::stoll(get("step"));
    auto os = f.metadata().find("optimizer_steps");
    s.optimizer_steps = os == f.metadata().end() ? s.step : std::stoll(os->second);
    s.data_epoch = std::stoull(get("data_epoch"));
    s.data_cursor = std::stoull(get("data_cursor"));
  } catch (const std::logic_error&) {
    fail("checkpoint", path, ": step or data position is not a number");
  }
  if (s.step < 0 || s.optimizer_steps < 0 || s.optimizer_steps > s.step)
    fail("checkpoint", path, ": step ", s.step, " (optimizer steps ", s.optimizer_steps, ") is out of range");
  s.plan_json = get("plan");
  s.recipe_yaml = get("recipe");
  try {
    const auto plan = nlohmann::json::parse(s.plan_json);
    if (!plan.is_object()) fail("checkpoint", path, ": metadata 'plan' is not a JSON object");
  } catch (const nlohmann::json::exception& e) {
    fail("checkpoint", path, ": metadata 'plan' is not valid JSON (", e.what(), ")");
  }
  for (const auto& t : f.tensors()) {
    std::vector<float> v = f.read_f32(t.name);  // validates dtype and finiteness
    auto tensor = torch::from_blob(v.data(), t.shape, torch::kFloat32).clone();
    if (t.name.rfind("param/", 0) == 0) s.params.emplace_back(t.name.substr(6), tensor);
    else if (t.name.rfind("optim/", 0) == 0) s.optimizer.emplace_back(t.name.substr(6), tensor);
    else fail("checkpoint", path, ": unexpected tensor '", t.name, "'");
  }
  return s;
}

std::optional<ResumePoint> load_resume_checkpoint(const std::string& run_dir) {
  auto all = list_checkpoints(run_dir);
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    try {
      return ResumePoint{*it, load_checkpoint(*it)};
    } catch (const Error& e) {
      const std::string aside = *it + ".damaged";
      const bool moved = ::rename(it->c_str(), aside.c_str()) == 0;
      log_warn("--resume: checkpoint ", *it, " is damaged (", e.what(), ")",
               moved ? cat("; moved aside to ", aside) : std::string(),
               std::next(it) != all.rend() ? "; falling back to the one before it" : "; no older checkpoint is left");
    }
  }
  return std::nullopt;
}

int remove_stale_temp_files(const std::string& run_dir) {
  int n = 0;
  for (const std::string folder : {"", "checkpoints", "peft", "model"}) {
    const std::string dir = folder.empty() ? run_dir : path_join(run_dir, folder);
    DIR* d = opendir(dir.c_str());
    if (!d) continue;
    std::vector<std::string> stale;
    std::string target;
    while (dirent* e = readdir(d))
      if (is_atomic_temp(e->d_name, &target) && is_run_output(folder, target)) stale.push_back(path_join(dir, e->d_name));
    closedir(d);
    for (const auto& p : stale) {
      if (::unlink(p.c_str()) == 0) {
        log_info("removed ", p, " (a partial file left by an interrupted write)");
        ++n;
      } else {
        log_warn("cannot remove the partial file ", p, " (", std::strerror(errno), ")");
      }
    }
  }
  return n;
}

}  // namespace et
