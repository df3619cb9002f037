// Greedy and temperature / top-k / top-p sampling (see sampler.h), in double precision on the CPU.
#include "edgetune/model/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "edgetune/core/error.h"

namespace et::model {

int64_t argmax_first(const std::vector<float>& logits) {
  ET_CHECK(!logits.empty(), "sampler", "empty logits");
  int64_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[static_cast<size_t>(best)]) best = static_cast<int64_t>(i);
  return best;
}

std::vector<double> sampling_distribution(const std::vector<float>& logits, const SamplingOptions& o) {
  ET_CHECK(!logits.empty(), "sampler", "empty logits");
  ET_CHECK(o.temperature > 0, "sampler", "sampling needs a positive temperature, got ", o.temperature);
  const size_t n = logits.size();
  const double neg_inf = -std::numeric_limits<double>::infinity();
  std::vector<double> z(n);
  for (size_t i = 0; i < n; ++i) z[i] = static_cast<double>(logits[i]) / o.temperature;

  if (o.top_k > 0 && static_cast<size_t>(o.top_k) < n) {
    std::vector<double> sorted = z;
    std::nth_element(sorted.begin(), sorted.begin() + (o.top_k - 1), sorted.end(), std::greater<double>());
    const double kth = sorted[static_cast<size_t>(o.top_k - 1)];
    for (auto& v : z)
      if (v < kth) v = neg_inf;
  }
  const double zmax = *std::max_element(z.begin(), z.end());
  std::vector<double> p(n);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += (p[i] = std::exp(z[i] - zmax));
  for (auto& v : p) v /= sum;

  if (o.top_p < 1.0) {
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
    double cum = 0;
    for (size_t r = 0; r + 1 < n; ++r) {  // r = n - 1, the most likely token, always stays
      cum += p[order[r]];
      if (cum <= 1.0 - o.top_p) p[order[r]] = 0;
    }
    double kept = 0;
    for (auto v : p) kept += v;
    for (auto& v : p) v /= kept;
  }
  return p;
}

Sampler::Sampler(const SamplingOptions& o) : o_(o), rng_(o.seed) {
  ET_CHECK(o.temperature >= 0 && std::isfinite(o.temperature), "sampler", "temperature must be >= 0, got ",
           o.temperature);
  ET_CHECK(o.top_p > 0 && o.top_p <= 1, "sampler", "top-p must be in (0, 1], got ", o.top_p);
  ET_CHECK(o.top_k >= 0, "sampler", "top-k must be >= 0, got ", o.top_k);
}

int64_t Sampler::next(const torch::Tensor& logits) {
  torch::Tensor l = logits.detach().to(torch::kCPU, torch::kFloat32).contiguous().view(-1);
  std::vector<float> v(l.data_ptr<float>(), l.data_ptr<float>() + l.numel());
  return next(v);
}

int64_t Sampler::next(const std::vector<float>& logits) {
  if (o_.temperature <= 0) return argmax_first(logits);
  const std::vector<double> p = sampling_distribution(logits, o_);
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;  // uniform in [0, 1)
  double cum = 0;
  int64_t last = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0) continue;
    last = static_cast<int64_t>(i);
    cum += p[i];
    if (u < cum) return last;
  }
  return last;  // rounding left u above the total: the last token with mass
}

}  // namespace et::model
