// The recipe table: every key with its help text, YAML loading with precise errors, overrides,
// validation and the resolved YAML written next to a run's outputs.
#include "edgetune/train/recipe.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/paths.h"

namespace et {

std::vector<RecipeField> recipe_fields(Recipe& r) {
  auto& g = r.adapters.gradcut;
  return {
      {"model.path", "Hugging Face model folder (config.json, *.safetensors, tokenizer) or an .etq file", &r.model.path, {}, true},
      {"model.device", "where to train: auto (cuda if available), cpu or cuda", &r.model.device, {"auto", "cpu", "cuda"}},
      {"model.dtype", "compute dtype: auto (bfloat16 on GPU, float32 on CPU), float32 or bfloat16", &r.model.dtype, {"auto", "float32", "bfloat16"}},
      {"model.init", "pretrained: weights from the folder; random: a fresh model from config.json (pretraining a small base with adapters.policy full)", &r.model.init, {"pretrained", "random"}},
      {"quant.backbone", "frozen weights: nf4 (4-bit, bitsandbytes layout) or none (dense)", &r.quant.backbone, {"nf4", "none"}},
      {"adapters.policy", "all: LoRA on every target matrix; gradcut: plan with GradCut; list: the matrices in adapters.list; full: train every weight (tiny models); none: no training (eval only)", &r.adapters.policy, {"all", "gradcut", "list", "full", "none"}},
      {"adapters.rank", "LoRA rank r of dedicated adapters (policies all and list)", &r.adapters.rank, {}},
      {"adapters.alpha", "LoRA alpha; the update is scaled by alpha/r (alpha/sqrt(r) with rslora)", &r.adapters.alpha, {}},
      {"adapters.dropout", "dropout on the adapter input during training", &r.adapters.dropout, {}},
      {"adapters.rslora", "rank-stabilized scaling alpha/sqrt(r)", &r.adapters.rslora, {}},
      {"adapters.targets", "module types that may get adapters", &r.adapters.targets, {}},
      {"adapters.list", "policy list: matrices to adapt, e.g. [layers.3.self_attn.q_proj, layers.4.*]", &r.adapters.list, {}},
      {"adapters.trainable_tokens", "embedding rows to train as well (PEFT's trainable tokens; needs a head tied to the embedding): token ids, pieces as the vocabulary spells them, or auto: the training targets whose row the base never learned (cosine >= 0.99 with another token's row, as unseen tokens' rows are)", &r.adapters.trainable_tokens, {}},
      {"adapters.plan", "policy gradcut: reuse this plan.json (placement, ranks, alphas) instead of planning", &r.adapters.plan, {}, true},
      {"adapters.gradcut.shared_rank", "phase 1: rank of the shared LoRA of each module type", &g.shared_rank, {}},
      {"adapters.gradcut.shared_alpha", "phase 1: alpha of the shared LoRA", &g.shared_alpha, {}},
      {"adapters.gradcut.initial_full_steps", "calibration steps before pruning starts", &g.initial_full_steps, {}},
      {"adapters.gradcut.prune_interval", "prune every this many calibration steps", &g.prune_interval, {}},
      {"adapters.gradcut.prune_step", "matrices of each type pruned each time", &g.prune_step, {}},
      {"adapters.gradcut.keep_attention", "fraction of layers that keep an adapter, per attention type (q,k,v,o)", &g.keep_attention, {}},
      {"adapters.gradcut.keep_mlp", "fraction of layers that keep an adapter, per MLP type (gate,up,down)", &g.keep_mlp, {}},
      {"adapters.gradcut.w_importance", "weight w_I of min-max importance in the score", &g.w_importance, {}},
      {"adapters.gradcut.w_cost", "weight w_C of min-max cost in the score", &g.w_cost, {}},
      {"adapters.gradcut.threshold", "T: a survivor gets a dedicated LoRA if its normalized importance > mean + T*std", &g.threshold, {}},
      {"adapters.gradcut.dedicated_rank", "rank of dedicated adapters chosen by GradCut", &g.dedicated_rank, {}},
      {"adapters.gradcut.dedicated_alpha", "alpha of dedicated adapters chosen by GradCut", &g.dedicated_alpha, {}},
      {"adapters.gradcut.cost", "cost model: flops (adapter + forced backward FLOPs and memory) or depth (L - layer)", &g.cost, {"flops", "depth"}},
      {"adapters.gradcut.calibration_steps", "calibration steps (0: enough to reach the keep counts)", &g.calibration_steps, {}},
      {"adapters.gradcut.warmup_fraction", "fraction of train.max_steps in which every matrix below the cut also trains a LoRA (adapters.rank, adapters.alpha); then those adapters freeze (they stay in the patch) and the cut holds (0: the cut holds from the first step)", &g.warmup_fraction, {}},
      {"data.train", "training trajectories (JSONL, chat or ReAct form)", &r.data.train, {}, true},
      {"data.eval", "held-out trajectories for eval_loss (JSONL)", &r.data.eval, {}, true},
      {"data.format", "trajectory form: auto (per line), chat or react", &r.data.format, {"auto", "chat", "react"}},
      {"data.chat_template", "auto (from the model's special tokens), llama3, chatml (Qwen2.5), qwen3, gemma3 or plain (base models)", &r.data.chat_template, {"auto", "llama3", "chatml", "qwen3", "gemma3", "plain"}},
      {"data.last_turn_only", "loss only on the final assistant turn", &r.data.last_turn_only, {}},
      {"data.pack", "pack conversations into rows of max_seq_len (no attention across them); false pads", &r.data.pack, {}},
      {"data.max_seq_len", "tokens per row; longer conversations are truncated", &r.data.max_seq_len, {}},
      {"data.on_error", "a malformed line: skip (reported with file:line) or fail", &r.data.on_error, {"skip", "fail"}},
      {"data.system_prompt", "system prompt for conversations that have none", &r.data.system_prompt, {}},
      {"data.eval_max_examples", "use at most this many eval conversations (0: all)", &r.data.eval_max_examples, {}},
      {"train.max_steps", "optimizer steps", &r.train.max_steps, {}},
      {"train.batch_size", "rows per micro-batch", &r.train.batch_size, {}},
      {"train.grad_accum", "micro-batches per optimizer step", &r.train.grad_accum, {}},
      {"train.lr", "peak learning rate", &r.train.lr, {}},
      {"train.schedule", "learning-rate schedule after warmup", &r.train.schedule, {"cosine", "linear", "constant"}},
      {"train.warmup_steps", "linear warmup steps", &r.train.warmup_steps, {}},
      {"train.min_lr_ratio", "final learning rate as a fraction of train.lr", &r.train.min_lr_ratio, {}},
      {"train.weight_decay", "AdamW decoupled weight decay", &r.train.weight_decay, {}},
      {"train.beta1", "AdamW beta1", &r.train.beta1, {}},
      {"train.beta2", "AdamW beta2", &r.train.beta2, {}},
      {"train.adam_eps", "AdamW epsilon", &r.train.adam_eps, {}},
      {"train.max_grad_norm", "clip the global gradient norm to this (0: off)", &r.train.max_grad_norm, {}},
      {"train.max_bad_steps", "a step whose loss or gradient norm is not finite, whose gradient norm is 0 (a saturated model), or whose loss exploded (train.loss_spike_factor) is skipped (no update) and logged; this many in a row stop the run with an error (0: never stop)", &r.train.max_bad_steps, {}},
      {"train.loss_spike_factor", "a step loss above max(factor x the run's first step loss, that loss + ln(vocabulary size)) counts as exploded (0: no limit)", &r.train.loss_spike_factor, {}},
      {"train.seed", "seed for shuffling, initialization and dropout", &r.train.seed, {}},
      {"train.eval_every", "evaluate every this many steps (0: at the start and the end only)", &r.train.eval_every, {}},
      {"train.save_every", "checkpoint every this many steps (0: at the end only)", &r.train.save_every, {}},
      {"train.log_every", "write a metrics row every this many steps", &r.train.log_every, {}},
      {"train.grad_checkpoint", "recompute layer activations in backward to save memory", &r.train.grad_checkpoint, {}},
      {"train.threads", "CPU threads (0: all cores)", &r.train.threads, {}},
      {"train.cut_cache", "keep every training conversation's hidden states at the cut layer (computed once), so later epochs run no layer below the cut; auto: when the plan has a cut and the cache fits in train.cut_cache_max_mb", &r.train.cut_cache, {"auto", "on", "off"}},
      {"train.kernels", "fast: the fused CPU and CUDA kernels; reference: the same ops as plain libtorch ops (slower; for checking the fast path)", &r.train.kernels, {"fast", "reference"}},
      {"train.cut_cache_max_mb", "train.cut_cache auto: the largest cache (MB, on the training device)", &r.train.cut_cache_max_mb, {}},
      {"train.memory_budget", "MiB the run's peak memory must fit in (0: off): before training, the trainer estimates the peak and chooses train.batch_size and grad_accum (keeping their product), grad_checkpoint and cut_cache to fit, or refuses naming the smallest budget that would fit; the CUDA allocator's peak on a GPU, the resident set on the CPU, both together on unified-memory devices (Jetson). `edgetune plan --memory` prints the estimate", &r.train.memory_budget, {}},
      {"output.dir", "run folder: recipe.resolved.yaml, metrics.jsonl, plan.json, patch.safetensors, peft/, checkpoints/", &r.output.dir, {}, true},
      {"output.export_peft", "export a PEFT adapter to output.dir/peft at the end", &r.output.export_peft, {}},
      {"output.keep_checkpoints", "how many checkpoints to keep", &r.output.keep_checkpoints, {}},
  };
}

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1] ? 1u : 0u)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

const char* type_name(const RecipeField& f) {
  if (f.path) return "path";
  switch (f.value.index()) {
    case 0:
    case 1: return "integer";
    case 2: return "number";
    case 3: return "boolean";
    case 4: return "string";
    default: return "list of strings";
  }
}

std::string where_of(const std::string& origin, const YAML::Node& n) {
  const auto m = n.Mark();
  if (m.line >= 0) return cat(origin, ":", m.line + 1);
  return origin;
}

std::string scalar_text(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  std::ostringstream os;
  os << n;
  return os.str();
}

// Sets one field from a YAML node; `where` names the file:line or the --set argument. A relative
// path resolves against `base_dir` (when not empty).
void set_field(RecipeField& f, const YAML::Node& n, const std::string& where, const std::string& base_dir = "") {
  auto bad = [&]() {
    fail("recipe", where, ": '", f.key, "' expects ", type_name(f), ", got '", scalar_text(n), "'");
  };
  if (n.IsNull()) {
    if (auto* s = std::get_if<std::string*>(&f.value)) {
      (*s)->clear();
      return;
    }
    if (auto* l = std::get_if<std::vector<std::string>*>(&f.value)) {
      (*l)->clear();
      return;
    }
    bad();
  }
  try {
    std::visit(
        [&](auto* p) {
          using T = std::remove_pointer_t<decltype(p)>;
          if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            if (n.IsSequence()) {
              p->clear();
              for (const auto& e : n) {
                if (!e.IsScalar()) bad();
                p->push_back(e.Scalar());
              }
            } else if (n.IsScalar()) {  // "a,b,c" from --set
              p->clear();
              std::stringstream ss(n.Scalar());
              std::string item;
              while (std::getline(ss, item, ','))
                if (!item.empty()) p->push_back(item);
            } else {
              bad();
            }
          } else {
            if (!n.IsScalar()) bad();
            if constexpr (std::is_same_v<T, double>) {
              *p = n.as<double>();
              if (!std::isfinite(*p)) bad();
            } else if constexpr (std::is_same_v<T, int>) {
              const std::string s = n.Scalar();
              if (s.find_first_of(".eE") != std::string::npos) bad();
              *p = n.as<int>();
            } else if constexpr (std::is_same_v<T, int64_t>) {
              const std::string s = n.Scalar();
              if (s.find_first_of(".eE") != std::string::npos) bad();
              *p = n.as<int64_t>();
            } else {
              *p = n.as<T>();
            }
          }
        },
        f.value);
  } catch (const YAML::Exception&) {
    bad();
  }
  if (auto* s = std::get_if<std::string*>(&f.value); s && f.path && !base_dir.empty() && !(*s)->empty())
    **s = resolve_path(**s, base_dir);
  if (auto* s = std::get_if<std::string*>(&f.value)) {
    if (!f.choices.empty() &&
        std::find(f.choices.begin(), f.choices.end(), **s) == f.choices.end()) {
      std::string all;
      for (const auto& c : f.choices) all += (all.empty() ? "" : ", ") + c;
      fail("recipe", where, ": '", f.key, "' is '", **s, "'; choose one of: ", all);
    }
  }
}

RecipeField* find_field(std::vector<RecipeField>& fields, const std::string& key) {
  for (auto& f : fields)
    if (f.key == key) return &f;
  return nullptr;
}

[[noreturn]] void unknown_key(const std::string& where, const std::string& key) {
  std::string near = nearest_recipe_key(key);
  if (near.empty()) fail("recipe", where, ": unknown key '", key, "' (see `edgetune train --explain`)");
  fail("recipe", where, ": unknown key '", key, "'; did you mean '", near, "'?");
}

bool is_section(const std::vector<RecipeField>& fields, const std::string& prefix) {
  for (const auto& f : fields)
    if (f.key.rfind(prefix + ".", 0) == 0) return true;
  return false;
}

void apply_node(std::vector<RecipeField>& fields, const YAML::Node& node, const std::string& prefix,
                const std::string& origin, const std::string& base_dir) {
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string key = prefix.empty() ? it->first.Scalar() : prefix + "." + it->first.Scalar();
    // A copy (a handle): `it->second` is a member of a temporary the iterator returns, gone at the
    // end of this statement (found by fuzz/fuzz_recipe.cpp under ASan: stack-use-after-scope).
    const YAML::Node value = it->second;
    if (RecipeField* f = find_field(fields, key)) {
      set_field(*f, value, where_of(origin, it->first), base_dir);
    } else if (is_section(fields, key)) {
      if (!value.IsMap())
        fail("recipe", where_of(origin, it->first), ": '", key, "' is a section; expected a map of keys under it");
      apply_node(fields, value, key, origin, base_dir);
    } else {
      unknown_key(where_of(origin, it->first), key);
    }
  }
}

}  // namespace

std::string nearest_recipe_key(const std::string& key) {
  Recipe r;
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& f : recipe_fields(r)) {
    // Compare both the full path and the last component (a key placed in the wrong section).
    size_t d = edit_distance(key, f.key);
    auto dot = f.key.rfind('.');
    auto kdot = key.rfind('.');
    if (dot != std::string::npos && kdot != std::string::npos &&
        key.substr(kdot + 1) == f.key.substr(dot + 1))
      d = std::min<size_t>(d, 1);
    if (d < best_d) {
      best_d = d;
      best = f.key;
    }
  }
  return best_d <= std::max<size_t>(3, key.size() / 3) ? best : std::string();
}

Recipe parse_recipe(const std::string& text, const std::string& origin, const std::string& base_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail("recipe", origin, ":", e.mark.line + 1, ": invalid YAML (", e.msg, ")");
  }
  Recipe r;
  if (root.IsNull()) return r;
  if (!root.IsMap()) fail("recipe", origin, ": expected a map of sections (model, data, train, ...)");
  auto fields = recipe_fields(r);
  apply_node(fields, root, "", origin, base_dir);
  return r;
}

Recipe load_recipe(const std::string& path) {
  if (!file_exists(path)) fail("recipe", path, ": no such file");
  if (is_directory(path)) fail("recipe", path, ": is a folder; expected a YAML recipe file");
  return parse_recipe(read_text_file(path), path, parent_path(absolute_path(path)));
}

void absolutize_recipe_paths(Recipe& r) {
  for (auto& f : recipe_fields(r))
    if (auto* s = std::get_if<std::string*>(&f.value); s && f.path && !(*s)->empty()) **s = absolute_path(**s);
}

void apply_override(Recipe& r, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    fail("recipe", "--set ", assignment, ": expected key=value");
  const std::string key = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  auto fields = recipe_fields(r);
  RecipeField* f = find_field(fields, key);
  if (!f) unknown_key("--set " + assignment, key);
  YAML::Node n;
  if (std::holds_alternative<std::string*>(f->value)) {
    n = YAML::Node(text);  // strings are taken verbatim ("a: b" is not a map here)
  } else {
    try {
      n = YAML::Load(text);
    } catch (const YAML::Exception&) {
      n = YAML::Node(text);
    }
    if (text.empty()) n = YAML::Node(YAML::NodeType::Null);
  }
  set_field(*f, n, "--set " + assignment);
}

void validate_recipe(const Recipe& r) {
  auto positive = [](const char* key, double v) {
    if (!(v > 0)) fail("recipe", "'", key, "' must be positive, got ", v);
  };
  auto non_negative = [](const char* key, double v) {
    if (v < 0) fail("recipe", "'", key, "' must not be negative, got ", v);
  };
  positive("train.max_steps", r.train.max_steps);
  positive("train.batch_size", r.train.batch_size);
  positive("train.grad_accum", r.train.grad_accum);
  positive("train.lr", r.train.lr);
  non_negative("train.warmup_steps", r.train.warmup_steps);
  non_negative("train.weight_decay", r.train.weight_decay);
  non_negative("train.max_grad_norm", r.train.max_grad_norm);
  non_negative("train.max_bad_steps", r.train.max_bad_steps);
  non_negative("train.loss_spike_factor", r.train.loss_spike_factor);
  non_negative("train.eval_every", r.train.eval_every);
  non_negative("train.save_every", r.train.save_every);
  positive("train.log_every", r.train.log_every);
  non_negative("train.threads", r.train.threads);
  non_negative("train.cut_cache_max_mb", r.train.cut_cache_max_mb);
  non_negative("train.memory_budget", r.train.memory_budget);
  positive("data.max_seq_len", r.data.max_seq_len);
  positive("adapters.rank", r.adapters.rank);
  positive("adapters.alpha", r.adapters.alpha);
  if (r.adapters.dropout < 0 || r.adapters.dropout >= 1)
    fail("recipe", "'adapters.dropout' must be in [0, 1), got ", r.adapters.dropout);
  if (r.train.min_lr_ratio < 0 || r.train.min_lr_ratio > 1)
    fail("recipe", "'train.min_lr_ratio' must be in [0, 1], got ", r.train.min_lr_ratio);
  if (r.train.beta1 < 0 || r.train.beta1 >= 1 || r.train.beta2 < 0 || r.train.beta2 >= 1)
    fail("recipe", "'train.beta1' and 'train.beta2' must be in [0, 1)");
  const auto& g = r.adapters.gradcut;
  positive("adapters.gradcut.shared_rank", g.shared_rank);
  positive("adapters.gradcut.dedicated_rank", g.dedicated_rank);
  positive("adapters.gradcut.prune_interval", g.prune_interval);
  non_negative("adapters.gradcut.prune_step", g.prune_step);
  non_negative("adapters.gradcut.initial_full_steps", g.initial_full_steps);
  if (g.keep_attention <= 0 || g.keep_attention > 1 || g.keep_mlp <= 0 || g.keep_mlp > 1)
    fail("recipe", "'adapters.gradcut.keep_attention' and 'keep_mlp' must be in (0, 1]");
  if (g.warmup_fraction < 0 || g.warmup_fraction >= 1)
    fail("recipe", "'adapters.gradcut.warmup_fraction' must be in [0, 1) (got ", g.warmup_fraction, ")");
  static const char* known[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  for (const auto& t : r.adapters.targets)
    if (std::find(std::begin(known), std::end(known), t) == std::end(known))
      fail("recipe", "'adapters.targets' has '", t, "'; module types are q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
  if (r.adapters.policy == "list" && r.adapters.list.empty())
    fail("recipe", "'adapters.policy' is list but 'adapters.list' is empty");
}

std::string recipe_to_yaml(const Recipe& r_in) {
  Recipe r = r_in;
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::vector<std::string> open;  // currently open section path
  for (auto& f : recipe_fields(r)) {
    std::vector<std::string> parts;
    std::stringstream ss(f.key);
    std::string p;
    while (std::getline(ss, p, '.')) parts.push_back(p);
    std::vector<std::string> section(parts.begin(), parts.end() - 1);
    size_t common = 0;
    while (common < open.size() && common < section.size() && open[common] == section[common]) ++common;
    for (size_t i = open.size(); i > common; --i) out << YAML::EndMap;
    for (size_t i = common; i < section.size(); ++i) out << YAML::Key << section[i] << YAML::Value << YAML::BeginMap;
    open = section;
    out << YAML::Key << parts.back() << YAML::Value;
    std::visit(
        [&](auto* v) {
          using T = std::remove_pointer_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            out << YAML::Flow << YAML::BeginSeq;
            for (const auto& s : *v) out << s;
            out << YAML::EndSeq;
          } else if constexpr (std::is_same_v<T, std::string>) {
            out << YAML::DoubleQuoted << *v;
          } else {
            out << *v;
          }
        },
        f.value);
  }
  for (size_t i = 0; i < open.size(); ++i) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string explain_recipe() {
  Recipe r;
  std::ostringstream os;
  os << "Recipe keys (YAML sections; override any with --set key=value).\n"
        "A relative path in a recipe file resolves against the recipe's folder; in --set, against the\n"
        "current folder.\n\n";
  for (auto& f : recipe_fields(r)) {
    std::string def;
    std::visit(
        [&](auto* v) {
          using T = std::remove_pointer_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            def = "[";
            for (size_t i = 0; i < v->size(); ++i) def += (i ? ", " : "") + (*v)[i];
            def += "]";
          } else if constexpr (std::is_same_v<T, std::string>) {
            def = v->empty() ? "\"\"" : *v;
          } else if constexpr (std::is_same_v<T, bool>) {
            def = *v ? "true" : "false";
          } else {
            std::ostringstream s;
            s << *v;
            def = s.str();
          }
        },
        f.value);
    os << "  " << f.key << " (" << type_name(f) << ", default " << def << ")\n      " << f.help;
    if (!f.choices.empty()) {
      os << " [";
      for (size_t i = 0; i < f.choices.size(); ++i) os << (i ? " | " : "") << f.choices[i];
      os << "]";
    }
    os << "\n";
  }
  return os.str();
}

}  // namespace et
