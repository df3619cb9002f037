// The adapter plan: for every target weight matrix, which adapter it gets (a dedicated LoRA, the
// shared LoRA of its module type with its own vectors, or none), at what rank and alpha. The plan
// is data: written to plan.json next to a run's outputs, read back to train or export again.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edgetune/adapt/adapter_options.h"

namespace et::model {
struct Model;
}

namespace et {

enum class AdapterKind { none, dedicated, shared };
const char* adapter_kind_name(AdapterKind k);
AdapterKind parse_adapter_kind(const std::string& s, const std::string& context);

struct PlanEntry {
  std::string module;  // HF module path: "model.layers.3.self_attn.q_proj"
  int layer = 0;
  std::string type;    // "q_proj", ..., "down_proj"
  int64_t in_features = 0, out_features = 0;
  AdapterKind kind = AdapterKind::none;
  int rank = 0;        // dedicated: its rank; shared: the shared adapter's rank
  double alpha = 0;
  // > 0: the adapter trains only for the first train_steps optimizer steps, then freezes (it stays
  // in the model and the patch); GradCut's warm-up adapters below the cut. 0: it trains every step.
  int train_steps = 0;
  // GradCut diagnostics (0 for other policies).
  double importance = 0, cost = 0, score = 0;
};

// The shared LoRA of one module type (A_t: r x in, B_t: out x r).
struct SharedSpec {
  std::string type;
  int rank = 0;
  double alpha = 0;
  int64_t in_features = 0, out_features = 0;
};

struct Plan {
  std::string policy;   // all | list | gradcut | full | none
  bool rslora = false;
  double dropout = 0;
  int num_layers = 0;
  std::vector<PlanEntry> entries;  // every target matrix of the model, kind none included
  std::vector<SharedSpec> shared;  // types that have shared entries
  // Trainable token rows (PEFT's trainable tokens): these embedding rows are trained as new
  // values [token_ids.size(), token_width] that replace the base's rows; a tied head reads the
  // same rows. token_module names the embedding ("model.embed_tokens"). Empty: none.
  std::vector<int64_t> token_ids;
  int64_t token_width = 0;
  std::string token_module;
  nlohmann::json extra = nlohmann::json::object();  // totals, FLOPs (GradCut)

  // alpha/r, or alpha/sqrt(r) with rslora.
  double scale(int rank, double alpha) const;
  const SharedSpec* shared_of(const std::string& type) const;
  // The lowest layer with an adapter that trains every step; num_layers when there is none (0 with
  // token rows: the embedding trains). After the warm-up adapters freeze, no backward runs below it.
  int cut_layer() const;
  // The lowest layer with an adapter that still trains at 0-based step `step` (train_steps == 0 or
  // step < train_steps): the cut of that step.
  int cut_layer_at(int64_t step) const;
  // The largest train_steps of any entry: the steps before the cut reaches cut_layer() (0: none).
  int warmup_steps() const;
  int count(AdapterKind k) const;
  // Trainable parameters: dedicated r*(in+out); each shared type r*(in+out) once plus, per
  // matrix using it, the vectors a (r) and b (out); token rows k*width.
  int64_t trainable_parameters() const;

  nlohmann::json to_json() const;
  static Plan from_json(const nlohmann::json& j, const std::string& source);
};

// Every target matrix of the model with its shape (kind none): the starting point of each policy.
Plan empty_plan(const model::Model& model, const AdapterOptions& options);
// policy all: a dedicated LoRA (options.rank, options.alpha) on every target matrix.
Plan plan_all(const model::Model& model, const AdapterOptions& options);
// policy list: dedicated LoRA on the matrices options.list names ("layers.3.self_attn.q_proj",
// "model.layers.3.mlp.up_proj", "layers.4.*"); a name that matches nothing is an error.
Plan plan_list(const model::Model& model, const AdapterOptions& options);

Plan load_plan(const std::string& path);
void save_plan(const Plan& plan, const std::string& path);

}  // namespace et
