// The memory planner (memory_plan.h): the search over settings, the shapes of a session and of a
// recipe, and the report of `edgetune plan --memory` (the estimate itself: memory_estimate.cpp).
#include "edgetune/train/memory_plan.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#ifdef EDGETUNE_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "edgetune/adapt/plan.h"
#include "edgetune/core/error.h"
#include "edgetune/core/log.h"
#include "edgetune/model/model.h"
#include "edgetune/model/model_files.h"
#include "edgetune/tokenize/tokenizer.h"
#include "edgetune/train/recipe.h"
#include "edgetune/train/trainer.h"

namespace et {

namespace {

constexpr double kBytesPerMiB = 1024.0 * 1024.0;

bool device_is_cuda(MemoryDevice d) { return d != MemoryDevice::cpu; }

std::vector<int> divisors_descending(int n) {
  std::vector<int> d;
  for (int k = n; k >= 1; --k)
    if (n % k == 0) d.push_back(k);
  return d;
}

// Relative time of an optimizer step: every micro-batch pays a fixed overhead (launches, the
// host work of a step) worth `fixed` tokens; checkpointing runs each layer's forward twice.
double step_cost(const MemoryShape& s, const MemorySettings& m) {
  const double fixed = device_is_cuda(s.device) ? 2048 : 128;
  const double tokens = static_cast<double>(m.batch_size) * static_cast<double>(s.row_tokens);
  const double layers = static_cast<double>(s.config.num_layers);
  const double below = std::min<double>(s.cut_layer, layers);
  // Forward 1 + backward 2 per layer above the cut; forward 1 below it unless the cache skips it.
  double per_token = 3 * (layers - below) + (m.cut_cache ? 0 : below);
  if (m.grad_checkpoint) per_token += std::max(0.0, layers - below - 2);
  return static_cast<double>(m.grad_accum) * (fixed * 3 * layers + tokens * per_token);
}

}  // namespace

std::vector<MemoryEstimate> memory_candidates(const MemoryShape& s, const MemorySettings& wanted,
                                              const std::string& cut_cache_mode) {
  const int effective = std::max(1, wanted.batch_size) * std::max(1, wanted.grad_accum);
  std::vector<bool> caches;
  if (s.cut_layer > 0 && !s.full && cut_cache_mode != "off") caches.push_back(true);
  if (cut_cache_mode != "on" || s.cut_layer <= 0 || s.full) caches.push_back(false);
  std::vector<MemoryEstimate> out;
  for (int b : divisors_descending(effective))
    for (bool ckpt : {false, true})
      for (bool cache : caches) {
        MemorySettings m;
        m.batch_size = b;
        m.grad_accum = effective / b;
        m.grad_checkpoint = ckpt;
        m.cut_cache = cache;
        out.push_back(estimate_memory(s, m));
      }
  return out;
}

MemoryChoice fit_memory_budget(const MemoryShape& s, const MemorySettings& wanted, const std::string& cut_cache_mode,
                               double budget_mib) {
  ET_CHECK(budget_mib > 0, "memory", "train.memory_budget must be positive to fit, got ", budget_mib);
  const auto candidates = memory_candidates(s, wanted, cut_cache_mode);
  const MemoryEstimate* best = nullptr;
  const MemoryEstimate* smallest = nullptr;
  for (const auto& e : candidates) {
    if (!smallest || e.total() < smallest->total()) smallest = &e;
    if (e.total_mib() > budget_mib) continue;
    if (!best || step_cost(s, e.settings) < step_cost(s, best->settings)) best = &e;
  }
  ET_CHECK(smallest, "memory", "no settings to consider");
  if (!best) {
    const double need = std::ceil(smallest->total_mib());
    fail("memory", "train.memory_budget ", budget_mib, " MiB is too small for ", s.what, ": the smallest setting (",
         describe_settings(smallest->settings), ") needs an estimated ", need, " MiB on ",
         memory_device_name(s.device), "; set train.memory_budget to at least ", need,
         " (or shorten data.max_seq_len, or train fewer adapters)");
  }
  MemoryChoice c;
  c.settings = best->settings;
  c.estimate = *best;
  std::ostringstream why;
  char est[96];
  std::snprintf(est, sizeof est, "estimated peak %.0f of %.0f MiB", best->total_mib(), budget_mib);
  why << describe_settings(best->settings) << " (" << est << ")";
  // The faster settings it passed over, and what they would need.
  std::vector<std::string> over;
  for (const auto& e : candidates)
    if (step_cost(s, e.settings) < step_cost(s, best->settings) && e.total_mib() > budget_mib) {
      char buf[64];
      std::snprintf(buf, sizeof buf, " would need %.0f MiB", e.total_mib());
      over.push_back(describe_settings(e.settings) + buf);
    }
  if (!over.empty()) why << "; faster but over the budget: " << over.front() << (over.size() > 1 ? cat(" (and ", over.size() - 1, " more)") : "");
  c.reason = why.str();
  return c;
}

MemorySettings recipe_memory_settings(const Recipe& r, const MemoryShape& s) {
  MemorySettings m;
  m.batch_size = r.train.batch_size;
  m.grad_accum = r.train.grad_accum;
  m.grad_checkpoint = r.train.grad_checkpoint;
  const double cache_mib = static_cast<double>(s.dataset_tokens + 1) * static_cast<double>(s.config.hidden_size) *
                           s.dtype_bytes / kBytesPerMiB;
  m.cut_cache = !s.full && s.cut_layer > 0 &&
                (r.train.cut_cache == "on" || (r.train.cut_cache == "auto" && cache_mib <= r.train.cut_cache_max_mb));
  return m;
}

namespace {

MemoryDevice device_kind(torch::Device d) {
  if (!d.is_cuda()) return MemoryDevice::cpu;
#ifdef EDGETUNE_TORCH_CUDA
  const auto* prop = at::cuda::getDeviceProperties(d.index() < 0 ? 0 : d.index());
  if (prop && prop->integrated) return MemoryDevice::cuda_unified;
#endif
  return MemoryDevice::cuda;
}

// The data's side of the shape: the longest packed row, its share of loss positions, the rows.
void fill_data_shape(MemoryShape& s, const std::vector<TokenizedExample>& examples, const Recipe& r) {
  std::vector<size_t> order(examples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const auto rows = pack_examples(examples, order, r.data.max_seq_len, r.data.pack, 0);
  int64_t longest = 1, most_targets = 0;
  for (const auto& row : rows) {
    longest = std::max<int64_t>(longest, static_cast<int64_t>(row.ids.size()));
    int64_t t = 0;
    for (size_t k = 1; k < row.target.size(); ++k) t += row.target[k] != 0;
    most_targets = std::max(most_targets, t);
  }
  s.row_tokens = longest;
  s.target_fraction = std::min(1.0, static_cast<double>(most_targets) / static_cast<double>(longest));
  s.rows = static_cast<int64_t>(rows.size());
  s.dataset_tokens = 0;
  for (const auto& ex : examples) s.dataset_tokens += static_cast<int64_t>(ex.ids.size());
}

void fill_plan_shape(MemoryShape& s, const Plan& p, int num_layers) {
  s.trainable = p.trainable_parameters();
  s.cut_layer = p.cut_layer();
  std::vector<int64_t> rank(static_cast<size_t>(std::max(1, num_layers)), 0);
  int adapted = 0;
  for (const auto& e : p.entries) {
    if (e.kind == AdapterKind::none) continue;
    ++adapted;
    if (e.layer >= 0 && e.layer < num_layers) rank[static_cast<size_t>(e.layer)] += e.rank;
  }
  s.layer_rank = *std::max_element(rank.begin(), rank.end());
  s.what = cat("a plan of ", adapted, " adapted matrices, cut at layer ", s.cut_layer);
}

// A model with the config's shape and no weights: enough for plan_all / plan_list / empty_plan.
model::Model shape_only_model(const model::ModelConfig& c) {
  model::Model m;
  m.config = c;
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  using K = model::LinearKind;
  auto lin = [](int layer, K kind, int64_t in, int64_t out) {
    model::Linear l;
    l.name = "model.layers." + std::to_string(layer) + "." + model::linear_kind_parent(kind) + "." +
             model::linear_kind_name(kind);
    l.layer = layer;
    l.kind = kind;
    l.in_features = in;
    l.out_features = out;
    return l;
  };
  for (int l = 0; l < static_cast<int>(c.num_layers); ++l) {
    model::DecoderLayer d;
    d.index = l;
    d.q_proj = lin(l, K::q_proj, H, c.q_out());
    d.k_proj = lin(l, K::k_proj, H, c.kv_out());
    d.v_proj = lin(l, K::v_proj, H, c.kv_out());
    d.o_proj = lin(l, K::o_proj, c.q_out(), H);
    d.gate_proj = lin(l, K::gate_proj, H, I);
    d.up_proj = lin(l, K::up_proj, H, I);
    d.down_proj = lin(l, K::down_proj, I, H);
    m.layers.push_back(std::move(d));
  }
  return m;
}

// The plan a policy implies before planning: all / list as they will be; GradCut's calibration
// (a shared adapter per type on every matrix, no cut); full and none train no adapters.
Plan policy_plan(const model::Model& m, const Recipe& r) {
  const std::string& p = r.adapters.policy;
  if (p == "list") return plan_list(m, r.adapters);
  if (p == "gradcut" && !r.adapters.plan.empty()) return load_plan(r.adapters.plan);
  if (p == "gradcut") {
    AdapterOptions o = r.adapters;
    o.rank = r.adapters.gradcut.shared_rank;
    o.alpha = r.adapters.gradcut.shared_alpha;
    Plan plan = plan_all(m, o);
    return plan;
  }
  if (p == "full" || p == "none") return empty_plan(m, r.adapters);
  return plan_all(m, r.adapters);
}

void fill_common(MemoryShape& s, const Recipe& r, bool nf4, int dtype_bytes, MemoryDevice device) {
  s.device = device;
  s.dtype_bytes = dtype_bytes;
  s.nf4 = nf4;
  s.full = r.adapters.policy == "full";
  s.dropout = r.adapters.dropout;
  s.threads = r.train.threads > 0 ? r.train.threads : at::get_num_threads();
  s.budgeted = r.train.memory_budget > 0;
}

// The device a recipe will train on. model.device: cuda without a visible GPU estimates for a
// discrete one (a GPU run planned on another machine).
MemoryDevice recipe_device(const std::string& d) {
  if (d == "cpu") return MemoryDevice::cpu;
  if (torch::cuda::is_available()) return device_kind(torch::Device(torch::kCUDA, 0));
  if (d == "cuda") {
    log_info("no CUDA device here: estimating for a discrete GPU (the CUDA allocator's peak)");
    return MemoryDevice::cuda;
  }
  return MemoryDevice::cpu;
}

}  // namespace

MemoryShape session_memory_shape(const TrainSession& session, const Plan* plan) {
  const Recipe& r = session.recipe;
  MemoryShape s;
  s.config = session.model.config;
  bool nf4 = false;
  for (const auto& l : session.model.layers) nf4 = nf4 || l.q_proj.nf4 != nullptr;
  fill_common(s, r, nf4, static_cast<int>(c10::elementSize(session.model.dtype)), device_kind(session.model.device));
  fill_data_shape(s, session.train_examples, r);
  if (s.full) {
    s.what = "full fine-tuning";
  } else {
    const Plan p = plan ? *plan : policy_plan(shape_only_model(s.config), r);
    fill_plan_shape(s, p, static_cast<int>(s.config.num_layers));
    if (!plan && r.adapters.policy == "gradcut" && r.adapters.plan.empty())
      s.what = "GradCut's calibration (a shared adapter on every matrix, no cut)";
  }
  return s;
}

MemoryShape recipe_memory_shape(const Recipe& recipe) {
  validate_recipe(recipe);
  if (recipe.model.path.empty()) fail("memory", "model.path is not set (a Hugging Face model folder)");
  if (recipe.data.train.empty()) fail("memory", "data.train is not set (a JSONL file of trajectories)");
  // The data goes through the session's own path (template, truncation) on a session without weights.
  TrainSession t;
  t.recipe = recipe;
  const std::string folder = model::model_files_folder(recipe.model.path);
  t.model.config = model::load_config(folder);
  t.tokenizer = load_tokenizer(folder);
  t.chat_template = recipe.data.chat_template == "auto"
                        ? choose_chat_template(model::family_name(t.model.config.family), *t.tokenizer)
                        : parse_chat_template(recipe.data.chat_template);
  t.train_examples = tokenize_file(t, recipe.data.train, 0);
  MemoryShape s;
  s.config = t.model.config;
  const MemoryDevice device = recipe_device(recipe.model.device);
  const std::string dt = recipe.model.dtype == "auto" ? (device_is_cuda(device) ? "bfloat16" : "float32") : recipe.model.dtype;
  fill_common(s, recipe, recipe.quant.backbone == "nf4",
              static_cast<int>(c10::elementSize(model::parse_compute_dtype(dt, "model.dtype"))), device);
  fill_data_shape(s, t.train_examples, recipe);
  if (s.full) {
    s.what = "full fine-tuning";
  } else {
    fill_plan_shape(s, policy_plan(shape_only_model(s.config), recipe), static_cast<int>(s.config.num_layers));
    if (recipe.adapters.policy == "gradcut" && recipe.adapters.plan.empty())
      s.what = "GradCut's calibration (a shared adapter on every matrix, no cut)";
  }
  return s;
}

void check_memory_budget(const Recipe& r) {
  if (r.train.memory_budget <= 0) return;
  const MemoryShape shape = recipe_memory_shape(r);
  fit_memory_budget(shape, recipe_memory_settings(r, shape), r.train.cut_cache, r.train.memory_budget);
}

void apply_memory_budget(TrainSession& session, const Plan* plan) {
  Recipe& r = session.recipe;
  if (r.train.memory_budget <= 0) return;
  const MemoryShape shape = session_memory_shape(session, plan);
  const MemorySettings wanted = recipe_memory_settings(r, shape);
  const MemoryChoice c = fit_memory_budget(shape, wanted, r.train.cut_cache, r.train.memory_budget);
  const bool same = c.settings.batch_size == r.train.batch_size && c.settings.grad_accum == r.train.grad_accum &&
                    c.settings.grad_checkpoint == r.train.grad_checkpoint && c.settings.cut_cache == wanted.cut_cache;
  // The session is fitted before planning (plan == nullptr) and again for the plan: the second
  // time only a change is news.
  const std::string line = cat("memory budget ", r.train.memory_budget, " MiB (", memory_device_name(shape.device),
                               ", ", shape.what, "): ", c.reason,
                               same && !plan ? "; the recipe's settings fit as they are" : "");
  if (!plan || !same)
    log_info(line);
  else
    log_debug(line);
  log_debug("memory estimate:\n", format_estimate(shape, c.estimate));
  r.train.batch_size = c.settings.batch_size;
  r.train.grad_accum = c.settings.grad_accum;
  r.train.grad_checkpoint = c.settings.grad_checkpoint;
  if (!shape.full && shape.cut_layer > 0) r.train.cut_cache = c.settings.cut_cache ? "on" : "off";
  session.recipe_yaml = recipe_to_yaml(r);
}

MemoryReport memory_report(const Recipe& recipe) {
  MemoryReport rep;
  rep.shape = recipe_memory_shape(recipe);
  const MemorySettings wanted = recipe_memory_settings(recipe, rep.shape);
  rep.at_recipe = estimate_memory(rep.shape, wanted);
  rep.candidates = memory_candidates(rep.shape, wanted, recipe.train.cut_cache);
  rep.budget_mib = recipe.train.memory_budget;
  if (rep.budget_mib > 0) {
    try {
      rep.choice = fit_memory_budget(rep.shape, wanted, recipe.train.cut_cache, rep.budget_mib);
      rep.has_choice = true;
    } catch (const Error& e) {
      rep.refusal = e.what();
    }
  }
  return rep;
}

std::string format_memory_report(const MemoryReport& r) {
  std::ostringstream os;
  const MemoryShape& s = r.shape;
  os << "memory estimate on " << memory_device_name(s.device) << " for " << s.what << "; rows of " << s.row_tokens
     << " tokens (" << s.rows << " rows of training data)\n\nat the recipe's settings:\n"
     << format_estimate(s, r.at_recipe) << "\nsettings with the same effective batch:\n";
  char buf[200];
  std::snprintf(buf, sizeof buf, "  %10s %10s %9s %9s %12s\n", "micro", "accum", "ckpt", "cut cache", "peak MiB");
  os << buf;
  for (const auto& e : r.candidates) {
    std::snprintf(buf, sizeof buf, "  %10d %10d %9s %9s %12.0f\n", e.settings.batch_size, e.settings.grad_accum,
                  e.settings.grad_checkpoint ? "on" : "off", e.settings.cut_cache ? "on" : "off", e.total_mib());
    os << buf;
  }
  if (r.budget_mib > 0) {
    os << "\ntrain.memory_budget " << r.budget_mib << " MiB: ";
    if (r.has_choice)
      os << r.choice.reason << "\n";
    else
      os << "refused: " << r.refusal << "\n";
  }
  return os.str();
}

namespace {

nlohmann::json estimate_json(const MemoryEstimate& e) {
  const MemorySettings& m = e.settings;
  return {{"batch_size", m.batch_size},        {"grad_accum", m.grad_accum},
          {"grad_checkpoint", m.grad_checkpoint}, {"cut_cache", m.cut_cache},
          {"runtime_mib", e.runtime / kBytesPerMiB},     {"weights_mib", e.weights / kBytesPerMiB},
          {"embeddings_mib", e.embeddings / kBytesPerMiB}, {"adapters_mib", e.adapters / kBytesPerMiB},
          {"activations_mib", e.activations / kBytesPerMiB}, {"cross_entropy_mib", e.cross_entropy / kBytesPerMiB},
          {"transient_mib", e.transient / kBytesPerMiB},
          {"cut_cache_mib", e.cut_cache / kBytesPerMiB}, {"workspace_mib", e.workspace / kBytesPerMiB},
          {"total_mib", e.total_mib()}};
}

}  // namespace

nlohmann::json memory_report_json(const MemoryReport& r) {
  nlohmann::json j{{"device", memory_device_name(r.shape.device)},
                   {"what", r.shape.what},
                   {"row_tokens", r.shape.row_tokens},
                   {"rows", r.shape.rows},
                   {"dataset_tokens", r.shape.dataset_tokens},
                   {"cut_layer", r.shape.cut_layer},
                   {"trainable_parameters", r.shape.trainable},
                   {"budget_mib", r.budget_mib},
                   {"at_recipe", estimate_json(r.at_recipe)}};
  j["candidates"] = nlohmann::json::array();
  for (const auto& e : r.candidates) j["candidates"].push_back(estimate_json(e));
  if (r.has_choice) {
    j["choice"] = estimate_json(r.choice.estimate);
    j["choice"]["reason"] = r.choice.reason;
  } else {
    j["choice"] = nullptr;
  }
  j["refusal"] = r.refusal;
  return j;
}

}  // namespace et
