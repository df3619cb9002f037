// `edgetune retune` as one library call: the drift report and decision (drift.h), and with apply
// the new patch: on reuse the old one re-fingerprinted for the new base (reuse.h), on retune a
// budgeted retraining warm-started from it (retrain.h). The report renders as text (stdout) and
// as a JSON document.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edgetune/retune/drift.h"
#include "edgetune/retune/retrain.h"

namespace et {

struct RetuneRequest {
  std::string patch, base_old, base_new;
  RetuneOptions options;
  bool apply = false;
  std::string output;               // with apply: the patch to write
  std::string recipe;               // with apply on retune: the recipe (empty: the patch's)
  std::vector<std::string> sets;    // recipe overrides
};

enum class RetuneAction { none, reused, retrained };
const char* retune_action_name(RetuneAction a);

struct RetuneResult {
  DriftReport report;
  RetuneAction action = RetuneAction::none;
  std::string written;      // the patch written (apply)
  RetrainResult retrain;    // action retrained
};

RetuneResult run_retune(const RetuneRequest& request);

// The readable report: a table of the patched matrices, the pooled statistics, the decision with
// the numbers that made it, and what --apply wrote.
std::string format_retune_report(const RetuneResult& result);
// The JSON document: decision, statistic, threshold, mu/sigma of both energies, options, one row
// per matrix, and what --apply wrote (non-finite ratios are null).
nlohmann::ordered_json retune_json(const RetuneResult& result);

}  // namespace et
