// How sure a model was of the calls it wrote, and how accurate its surest calls are.
//
// A call's confidence is the probability of its least likely token: the lowest p over the tokens
// whose text overlaps the call's markup (the tag or "Action:" that opens it through the tag that
// closes it), each p from the distribution the token was chosen from (under --constrain, the
// masked one, so tokens the grammar forces count as certain). The weakest token is where a call
// goes wrong (a name, a slot value), so the minimum, not the mean, which the many certain
// structural tokens would dilute. A turn's confidence is its least confident call's, or for a turn
// without calls its least likely token's.
//
// The coverage table: items sorted by confidence, most confident first (ties in their order), the
// accuracy of the first ceil(c * n) for each coverage c; an application that keeps the calls above
// the threshold and sends the rest to a larger model gets that accuracy on that share.
#pragma once
#include <cstddef>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

namespace et {

// ends[i]: where token i's text ends in the turn's text (token i spans [ends[i-1], ends[i]); a
// token whose text is held back, part of a character, spans nothing at ends[i]). The lowest
// exp(logprob) over the tokens overlapping [begin, end) (touching `begin` for empty ones); 1 when
// none does.
double span_confidence(const std::vector<size_t>& ends, const std::vector<double>& logprobs, size_t begin, size_t end);

struct CoveragePoint {
  double coverage = 0;
  int64_t items = 0;            // kept
  double accuracy = 0;          // of those kept
  double min_confidence = 0;    // the threshold: the lowest confidence kept
};

std::vector<CoveragePoint> coverage_table(const std::vector<double>& confidence, const std::vector<bool>& correct,
                                          const std::vector<double>& coverages = {0.5, 0.8, 1.0});
nlohmann::ordered_json coverage_json(const std::vector<CoveragePoint>& table);
// "coverage  items  accuracy  min confidence" lines, for people (stderr).
std::string coverage_text(const std::vector<CoveragePoint>& table, const std::string& what);

}  // namespace et
