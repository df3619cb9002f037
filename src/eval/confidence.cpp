// Call confidence and the coverage table (confidence.h).
#include "edgetune/eval/confidence.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "edgetune/core/error.h"

namespace et {

double span_confidence(const std::vector<size_t>& ends, const std::vector<double>& logprobs, size_t begin, size_t end) {
  ET_CHECK(ends.size() == logprobs.size(), "confidence", ends.size(), " token ends for ", logprobs.size(),
           " log-probabilities");
  double lowest = 0;  // log 1
  size_t start = 0;
  for (size_t i = 0; i < ends.size(); start = ends[i], ++i) {
    const bool overlaps = ends[i] > start ? start < end && ends[i] > begin : ends[i] >= begin && ends[i] < end;
    if (overlaps) lowest = std::min(lowest, logprobs[i]);
  }
  return std::exp(lowest);
}

std::vector<CoveragePoint> coverage_table(const std::vector<double>& confidence, const std::vector<bool>& correct,
                                          const std::vector<double>& coverages) {
  ET_CHECK(confidence.size() == correct.size(), "confidence", confidence.size(), " confidences for ", correct.size(),
           " results");
  std::vector<size_t> order(confidence.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return confidence[a] > confidence[b]; });
  std::vector<CoveragePoint> out;
  const size_t n = order.size();
  for (double c : coverages) {
    CoveragePoint p;
    p.coverage = c;
    const size_t k = std::min(n, static_cast<size_t>(std::ceil(c * static_cast<double>(n) - 1e-9)));
    p.items = static_cast<int64_t>(k);
    int64_t right = 0;
    for (size_t i = 0; i < k; ++i) right += correct[order[i]];
    p.accuracy = k > 0 ? static_cast<double>(right) / static_cast<double>(k) : 0.0;
    p.min_confidence = k > 0 ? confidence[order[k - 1]] : 0.0;
    out.push_back(p);
  }
  return out;
}

nlohmann::ordered_json coverage_json(const std::vector<CoveragePoint>& table) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (const auto& p : table)
    a.push_back({{"coverage", p.coverage}, {"items", p.items}, {"accuracy", p.accuracy}, {"min_confidence", p.min_confidence}});
  return a;
}

std::string coverage_text(const std::vector<CoveragePoint>& table, const std::string& what) {
  std::string s = "coverage  " + what + "  accuracy  min confidence\n";
  char line[128];
  for (const auto& p : table) {
    std::snprintf(line, sizeof line, "%7.0f%%  %*lld  %8.3f  %14.4f\n", 100 * p.coverage, static_cast<int>(what.size()),
                  static_cast<long long>(p.items), p.accuracy, p.min_confidence);
    s += line;
  }
  return s;
}

}  // namespace et
