// Adapter plans: construction for the `all` and `list` policies, counting, and plan.json I/O.
#include "edgetune/adapt/plan.h"

#include <algorithm>
#include <limits>
#include <cmath>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/model/model.h"

namespace et {

using nlohmann::json;

const char* adapter_kind_name(AdapterKind k) {
  switch (k) {
    case AdapterKind::none: return "none";
    case AdapterKind::dedicated: return "dedicated";
    case AdapterKind::shared: return "shared";
  }
  return "?";
}

AdapterKind parse_adapter_kind(const std::string& s, const std::string& context) {
  if (s == "none") return AdapterKind::none;
  if (s == "dedicated") return AdapterKind::dedicated;
  if (s == "shared") return AdapterKind::shared;
  fail("plan", context, ": unknown assignment '", s, "' (dedicated, shared, none)");
}

double Plan::scale(int rank, double alpha) const {
  return rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / rank;
}

const SharedSpec* Plan::shared_of(const std::string& type) const {
  for (const auto& s : shared)
    if (s.type == type) return &s;
  return nullptr;
}

int Plan::cut_layer() const { return cut_layer_at(std::numeric_limits<int64_t>::max()); }

int Plan::cut_layer_at(int64_t step) const {
  if (!token_ids.empty()) return 0;  // the embedding's rows train: the backward reaches it
  int cut = num_layers;
  for (const auto& e : entries)
    if (e.kind != AdapterKind::none && (e.train_steps == 0 || step < e.train_steps)) cut = std::min(cut, e.layer);
  return cut;
}

int Plan::warmup_steps() const {
  int n = 0;
  for (const auto& e : entries) n = std::max(n, e.train_steps);
  return n;
}

int Plan::count(AdapterKind k) const {
  int n = 0;
  for (const auto& e : entries) n += e.kind == k;
  return n;
}

int64_t Plan::trainable_parameters() const {
  int64_t n = 0;
  std::vector<std::string> used_types;
  for (const auto& e : entries) {
    if (e.kind == AdapterKind::dedicated) n += static_cast<int64_t>(e.rank) * (e.in_features + e.out_features);
    if (e.kind == AdapterKind::shared) {
      n += e.rank + e.out_features;
      if (std::find(used_types.begin(), used_types.end(), e.type) == used_types.end()) used_types.push_back(e.type);
    }
  }
  for (const auto& t : used_types) {
    const SharedSpec* s = shared_of(t);
    ET_CHECK(s, "plan", "matrices of type ", t, " use a shared adapter but the plan has none for that type");
    n += static_cast<int64_t>(s->rank) * (s->in_features + s->out_features);
  }
  return n + static_cast<int64_t>(token_ids.size()) * token_width;
}

json Plan::to_json() const {
  json j;
  j["format"] = "edgetune-plan";
  j["version"] = 1;
  j["policy"] = policy;
  j["rslora"] = rslora;
  j["dropout"] = dropout;
  j["num_layers"] = num_layers;
  j["cut_layer"] = cut_layer();
  j["trainable_parameters"] = trainable_parameters();
  j["counts"] = {{"dedicated", count(AdapterKind::dedicated)},
                 {"shared", count(AdapterKind::shared)},
                 {"none", count(AdapterKind::none)}};
  json shared_j = json::array();
  for (const auto& s : shared)
    shared_j.push_back({{"type", s.type}, {"rank", s.rank}, {"alpha", s.alpha},
                        {"in_features", s.in_features}, {"out_features", s.out_features}});
  j["shared"] = shared_j;
  json m = json::array();
  for (const auto& e : entries) {
    m.push_back({{"module", e.module}, {"layer", e.layer}, {"type", e.type},
                 {"in_features", e.in_features}, {"out_features", e.out_features},
                 {"assignment", adapter_kind_name(e.kind)}, {"rank", e.rank}, {"alpha", e.alpha},
                 {"importance", e.importance}, {"cost", e.cost}, {"score", e.score}});
    if (e.train_steps > 0) m.back()["train_steps"] = e.train_steps;
  }
  j["matrices"] = m;
  if (!token_ids.empty())
    j["trainable_tokens"] = {{"module", token_module}, {"width", token_width}, {"ids", token_ids}};
  if (!extra.empty()) j["totals"] = extra;
  return j;
}

Plan Plan::from_json(const json& j, const std::string& src) {
  try {
    if (j.value("format", "") != "edgetune-plan") fail("plan", src, ": not an edgetune plan (format key)");
    if (j.value("version", 0) != 1) fail("plan", src, ": unsupported plan version ", j.value("version", 0));
    Plan p;
    p.policy = j.at("policy").get<std::string>();
    p.rslora = j.value("rslora", false);
    p.dropout = j.value("dropout", 0.0);
    p.num_layers = j.at("num_layers").get<int>();
    for (const auto& s : j.at("shared"))
      p.shared.push_back({s.at("type").get<std::string>(), s.at("rank").get<int>(), s.at("alpha").get<double>(),
                          s.at("in_features").get<int64_t>(), s.at("out_features").get<int64_t>()});
    for (const auto& m : j.at("matrices")) {
      PlanEntry e;
      e.module = m.at("module").get<std::string>();
      e.layer = m.at("layer").get<int>();
      e.type = m.at("type").get<std::string>();
      e.in_features = m.at("in_features").get<int64_t>();
      e.out_features = m.at("out_features").get<int64_t>();
      e.kind = parse_adapter_kind(m.at("assignment").get<std::string>(), src + ": " + e.module);
      e.rank = m.at("rank").get<int>();
      e.alpha = m.at("alpha").get<double>();
      e.importance = m.value("importance", 0.0);
      e.cost = m.value("cost", 0.0);
      e.score = m.value("score", 0.0);
      e.train_steps = m.value("train_steps", 0);
      if (e.kind != AdapterKind::none && (e.rank <= 0 || e.alpha <= 0))
        fail("plan", src, ": ", e.module, " has rank ", e.rank, " and alpha ", e.alpha);
      if (e.train_steps < 0 || (e.train_steps > 0 && e.kind != AdapterKind::dedicated))
        fail("plan", src, ": ", e.module, " has train_steps ", e.train_steps,
             " (only a dedicated adapter can train for part of the run, and the count must be positive)");
      if (e.kind == AdapterKind::shared) {
        const SharedSpec* s = p.shared_of(e.type);
        if (!s) fail("plan", src, ": ", e.module, " is shared but there is no shared adapter for ", e.type);
        // The entry repeats its shared adapter's rank and alpha (exports and counts read them).
        if (e.rank != s->rank || e.alpha != s->alpha)
          fail("plan", src, ": ", e.module, " is shared with rank ", e.rank, " and alpha ", e.alpha,
               " but the shared ", e.type, " adapter has rank ", s->rank, " and alpha ", s->alpha);
      }
      p.entries.push_back(std::move(e));
    }
    if (j.contains("trainable_tokens")) {
      const json& t = j.at("trainable_tokens");
      p.token_module = t.at("module").get<std::string>();
      p.token_width = t.at("width").get<int64_t>();
      p.token_ids = t.at("ids").get<std::vector<int64_t>>();
      if (p.token_width <= 0 || p.token_ids.empty())
        fail("plan", src, ": trainable_tokens has width ", p.token_width, " and ", p.token_ids.size(), " ids");
      std::vector<int64_t> sorted = p.token_ids;
      std::sort(sorted.begin(), sorted.end());
      if (sorted.front() < 0 || std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
        fail("plan", src, ": trainable_tokens ids must be distinct and non-negative");
    }
    if (p.warmup_steps() > 0 && p.cut_layer() >= p.num_layers)
      fail("plan", src, ": every adapter stops training after its train_steps; at least one must train every step");
    if (j.contains("totals")) p.extra = j["totals"];
    return p;
  } catch (const json::exception& e) {
    fail("plan", src, ": malformed plan (", e.what(), ")");
  }
}

Plan empty_plan(const model::Model& model, const AdapterOptions& o) {
  Plan p;
  p.policy = o.policy;
  p.rslora = o.rslora;
  p.dropout = o.dropout;
  p.num_layers = static_cast<int>(model.config.num_layers);
  for (const model::Linear* lin : model::linear_layers(model)) {
    const std::string type = model::linear_kind_name(lin->kind);
    if (std::find(o.targets.begin(), o.targets.end(), type) == o.targets.end()) continue;
    PlanEntry e;
    e.module = lin->name;
    e.layer = lin->layer;
    e.type = type;
    e.in_features = lin->in_features;
    e.out_features = lin->out_features;
    p.entries.push_back(e);
  }
  return p;
}

Plan plan_all(const model::Model& model, const AdapterOptions& o) {
  Plan p = empty_plan(model, o);
  for (auto& e : p.entries) {
    e.kind = AdapterKind::dedicated;
    e.rank = o.rank;
    e.alpha = o.alpha;
  }
  return p;
}

namespace {
// "layers.3.self_attn.q_proj" matches "model.layers.3.self_attn.q_proj"; "layers.3.*" matches every
// matrix of layer 3; a bare type ("q_proj") matches it in every layer.
bool list_matches(const std::string& pattern, const std::string& module) {
  auto ends_with = [](const std::string& s, const std::string& t) {
    return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
  };
  if (!pattern.empty() && pattern.back() == '*') {
    std::string stem = pattern.substr(0, pattern.size() - 1);
    auto pos = module.find(stem);
    return pos != std::string::npos && (pos == 0 || module[pos - 1] == '.');
  }
  return module == pattern || ends_with(module, "." + pattern);
}
}  // namespace

Plan plan_list(const model::Model& model, const AdapterOptions& o) {
  Plan p = empty_plan(model, o);
  for (const auto& pattern : o.list) {
    bool any = false;
    for (auto& e : p.entries) {
      if (list_matches(pattern, e.module)) {
        e.kind = AdapterKind::dedicated;
        e.rank = o.rank;
        e.alpha = o.alpha;
        any = true;
      }
    }
    if (!any) fail("plan", "adapters.list entry '", pattern, "' matches no target matrix (e.g. ",
                   p.entries.empty() ? std::string("none") : p.entries.front().module, ")");
  }
  return p;
}

Plan load_plan(const std::string& path) {
  json j;
  try {
    j = json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    fail("plan", path, ": not valid JSON (", e.what(), ")");
  }
  return Plan::from_json(j, path);
}

void save_plan(const Plan& plan, const std::string& path) { write_file_atomic(path, plan.to_json().dump(2) + "\n"); }

}  // namespace et
