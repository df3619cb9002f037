// The retune report as text (for stdout) and as JSON.
#include <cmath>
#include <cstdio>

#include "edgetune/retune/retune.h"

namespace et {

namespace {

std::string num(double v, const char* fmt = "%.4g") {
  if (std::isinf(v)) return "inf";
  char buf[48];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

nlohmann::ordered_json finite_or_null(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

}  // namespace

std::string format_retune_report(const RetuneResult& res) {
  const DriftReport& r = res.report;
  std::string out;
  auto line = [&](const std::string& s) { out += s + "\n"; };
  line("patch     " + r.patch + " (" + std::to_string(r.matrices.size()) + " patched matrices, " +
       std::to_string(r.values) + " values)");
  line("base-old  " + r.base_old + " (" + r.old_kind + ")" + (r.old_fingerprint_matches ? "" : " [not the patch's base: --force]"));
  line("base-new  " + r.base_new + " (" + r.new_kind + ")");
  line("");
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-44s %-9s %4s %11s %11s %11s %11s %11s", "matrix", "kind", "rank", "|W|", "|D|/|W|",
                "|D|/|dW|", "|UtDV|/|dW|", "mean D^2");
  line(buf);
  for (const auto& m : r.matrices) {
    std::snprintf(buf, sizeof buf, "%-44s %-9s %4d %11s %11s %11s %11s %11s", m.module.c_str(), adapter_kind_name(m.kind),
                  m.rank, num(m.weight_norm).c_str(), num(m.relative_drift).c_str(), num(m.drift_to_patch).c_str(),
                  num(m.subspace_drift).c_str(), num(m.mu_D).c_str());
    line(buf);
  }
  line("");
  line("patch energy (dW_ij)^2  mu_P " + num(r.mu_P) + "  sigma_P " + num(r.sigma_P));
  line("drift energy (D_ij)^2   mu_D " + num(r.mu_D) + "  sigma_D " + num(r.sigma_D));
  line("statistic  mu_D + k*sigma_D         = " + num(r.statistic) + "  (k " + num(r.options.k) + ")");
  line("threshold  kappa*(mu_P + k*sigma_P) = " + num(r.threshold) + "  (kappa " + num(r.options.kappa) + ")");
  const bool retune = r.decision == RetuneDecision::retune;
  std::string flip;
  if (r.kappa_flip == 0)
    flip = "it reuses at every kappa";
  else if (std::isinf(r.kappa_flip))
    flip = "it retunes at every kappa";
  else
    flip = std::string("it would ") + (retune ? "reuse from kappa " : "retune below kappa ") + num(r.kappa_flip);
  line(std::string("decision   ") + retune_decision_name(r.decision) + ": the statistic is " +
       (retune ? "above" : "at or below") + " the threshold" +
       (r.threshold > 0 && r.statistic > 0 ? " (" + num(r.statistic / r.threshold, "%.3g") + "x)" : std::string()) +
       "; " + flip);
  if (res.action == RetuneAction::reused) {
    line("applied    the patch re-fingerprinted for the new base: " + res.written);
  } else if (res.action == RetuneAction::retrained) {
    const RetrainResult& t = res.retrain;
    line("applied    retrained " + std::to_string(t.steps) + " steps (" + num(t.seconds, "%.1f") + " s, plan: " + t.policy +
         ", run folder " + t.output_dir + "): held-out loss " + num(t.old_eval_loss) + " (old patch on the new base) -> " +
         num(t.eval_loss));
    line(std::string("           ") + (t.kept_old ? "not lower: the old patch re-fingerprinted was written to "
                                                 : "the retrained patch was written to ") +
         res.written);
  }
  return out;
}

nlohmann::ordered_json retune_json(const RetuneResult& res) {
  const DriftReport& r = res.report;
  nlohmann::ordered_json j;
  j["decision"] = retune_decision_name(r.decision);
  j["statistic"] = r.statistic;
  j["threshold"] = r.threshold;
  j["kappa_flip"] = finite_or_null(r.kappa_flip);
  j["mu_P"] = r.mu_P;
  j["sigma_P"] = r.sigma_P;
  j["mu_D"] = r.mu_D;
  j["sigma_D"] = r.sigma_D;
  j["values"] = r.values;
  j["options"] = {{"kappa", r.options.kappa}, {"k", r.options.k}, {"force", r.options.force}};
  j["patch"] = r.patch;
  j["base_old"] = {{"path", r.base_old}, {"kind", r.old_kind}, {"fingerprint_matches", r.old_fingerprint_matches}};
  j["base_new"] = {{"path", r.base_new}, {"kind", r.new_kind}};
  j["matrices"] = nlohmann::ordered_json::array();
  for (const auto& m : r.matrices)
    j["matrices"].push_back({{"module", m.module},
                             {"layer", m.layer},
                             {"type", m.type},
                             {"kind", adapter_kind_name(m.kind)},
                             {"rank", m.rank},
                             {"shape", m.shape},
                             {"weight_norm", m.weight_norm},
                             {"drift_norm", m.drift_norm},
                             {"patch_norm", m.patch_norm},
                             {"subspace_norm", m.subspace_norm},
                             {"relative_drift", finite_or_null(m.relative_drift)},
                             {"drift_to_patch", finite_or_null(m.drift_to_patch)},
                             {"subspace_drift", finite_or_null(m.subspace_drift)},
                             {"mu_D", m.mu_D},
                             {"mu_P", m.mu_P}});
  nlohmann::ordered_json a{{"action", retune_action_name(res.action)}};
  if (res.action != RetuneAction::none) a["output"] = res.written;
  if (res.action == RetuneAction::retrained) {
    const RetrainResult& t = res.retrain;
    a["plan"] = t.policy;
    a["run_dir"] = t.output_dir;
    a["steps"] = t.steps;
    a["seconds"] = t.seconds;
    a["warm_start"] = {{"copied", t.warm.copied}, {"exact", t.warm.exact}, {"truncated", t.warm.truncated}, {"fresh", t.warm.fresh}};
    auto loss = [](double v) { return v >= 0 ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr); };
    a["old_eval_loss"] = loss(t.old_eval_loss);
    a["start_eval_loss"] = loss(t.start_eval_loss);
    a["eval_loss"] = loss(t.eval_loss);
    a["kept_old"] = t.kept_old;
  }
  j["applied"] = a;
  return j;
}

}  // namespace et
