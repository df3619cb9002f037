// BFCL predictions scored, and the summary and per-example details of a run (bfcl.h).
#include <algorithm>
#include <chrono>
#include <map>

#include "edgetune/core/error.h"
#include "edgetune/core/log.h"
#include "edgetune/eval/bfcl.h"

namespace et {

namespace {

using ojson = nlohmann::ordered_json;

double entry_rate(int64_t n, int64_t d) { return d > 0 ? static_cast<double>(n) / static_cast<double>(d) : 0.0; }

struct Tally {
  int64_t n = 0, correct = 0, valid = 0;
};

ojson calls_json(const std::vector<ToolCall>& calls) {
  ojson a = ojson::array();
  for (const auto& c : calls) a.push_back({{"name", c.name}, {"arguments", c.arguments}});
  return a;
}

}  // namespace

BfclReport score_bfcl_predictions(const std::vector<BfclExample>& examples,
                                  const std::vector<BfclPrediction>& predictions) {
  const auto t0 = std::chrono::steady_clock::now();
  std::map<std::string, const BfclPrediction*> by_id;
  std::map<std::string, size_t> known;
  for (size_t i = 0; i < examples.size(); ++i) known.emplace(examples[i].id, i);
  for (const auto& p : predictions) {
    if (!known.count(p.id)) fail("bfcl", p.source, ": '", p.id, "' is not among the questions");
    by_id[p.id] = &p;
  }
  BfclReport r;
  r.examples = examples;
  for (const auto& e : examples) {
    auto it = by_id.find(e.id);
    if (it == by_id.end()) {
      BfclResult missing;
      missing.id = e.id;
      missing.category = e.category;
      missing.matched.assign(e.expected.size(), false);
      missing.reason = "no prediction";
      r.results.push_back(std::move(missing));
      ++r.missing;
      continue;
    }
    const ojson& result = it->second->result;
    BfclResult s = score_bfcl(e, parse_bfcl_result(result));
    s.text =
        result.is_string() ? result.get<std::string>() : result.dump(-1, ' ', false, ojson::error_handler_t::replace);
    r.results.push_back(std::move(s));
  }
  if (r.missing > 0)
    log_warn("bfcl: ", r.missing, " of ", examples.size(), " questions have no prediction (scored as wrong)");
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

nlohmann::ordered_json BfclReport::summary() const {
  Tally all;
  std::map<std::string, Tally> categories;
  std::map<std::string, std::pair<int64_t, int64_t>> functions;  // name -> (calls, matched)
  for (size_t i = 0; i < results.size(); ++i) {
    const BfclResult& r = results[i];
    for (Tally* t : {&all, &categories[r.category.empty() ? "unknown" : r.category]}) {
      ++t->n;
      t->correct += r.correct;
      t->valid += r.valid;
    }
    if (i < examples.size())
      for (size_t k = 0; k < examples[i].expected.size(); ++k) {
        auto& f = functions[examples[i].expected[k].name];
        ++f.first;
        f.second += k < r.matched.size() && r.matched[k];
      }
  }
  ojson j;
  j["examples"] = all.n;
  j["correct"] = all.correct;
  j["accuracy"] = entry_rate(all.correct, all.n);
  j["valid"] = all.valid;
  j["valid_rate"] = entry_rate(all.valid, all.n);
  j["missing_predictions"] = missing;
  j["skipped"] = skipped;
  ojson cats = ojson::object();
  for (const auto& [name, t] : categories)
    cats[name] = {{"examples", t.n},
                  {"correct", t.correct},
                  {"accuracy", entry_rate(t.correct, t.n)},
                  {"valid_rate", entry_rate(t.valid, t.n)}};
  j["categories"] = cats;
  ojson fns = ojson::object();
  for (const auto& [name, f] : functions)
    fns[name] = {{"calls", f.first}, {"matched", f.second}, {"accuracy", entry_rate(f.second, f.first)}};
  j["functions"] = fns;
  if (std::any_of(results.begin(), results.end(), [](const BfclResult& r) { return r.confidence >= 0; })) {
    j["constrained"] = constrained;
    j["coverage"] = coverage_json(coverage());
  }
  j["seconds"] = seconds;
  return j;
}

std::vector<CoveragePoint> BfclReport::coverage() const {
  std::vector<double> confidence;
  std::vector<bool> correct;
  for (const auto& r : results)
    if (r.confidence >= 0) {
      confidence.push_back(r.confidence);
      correct.push_back(r.correct);
    }
  return coverage_table(confidence, correct);
}

nlohmann::ordered_json BfclReport::details() const {
  ojson out = ojson::array();
  for (size_t i = 0; i < results.size(); ++i) {
    const BfclResult& r = results[i];
    ojson d{{"id", r.id}, {"category", r.category}};
    if (i < examples.size()) d["source"] = examples[i].source;
    d["valid"] = r.valid;
    d["correct"] = r.correct;
    d["reason"] = r.reason;
    d["calls"] = calls_json(r.output.calls);
    d["output"] = r.text;
    if (r.confidence >= 0) d["confidence"] = r.confidence;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace et
