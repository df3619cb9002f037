// metrics.jsonl: one JSON object per line, flushed as written. Step rows carry step, loss, lr,
// grad_norm, tokens (trained tokens in the step), tokens_per_s (all tokens processed), step_s and
// mem_mb; eval rows carry step, eval_loss and eval_tokens (the first at step 0, before any update).
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

namespace et {

class MetricsWriter {
 public:
  // Opens `path` for appending. Rows of a previous run past `resume_step` are dropped (a resumed
  // run rewrites them), so the file always reads as one consistent run.
  MetricsWriter(const std::string& path, int64_t resume_step);
  ~MetricsWriter();
  void step_row(int64_t step, double loss, double lr, double grad_norm, int64_t tokens, double tokens_per_s,
                double step_s, double mem_mb);
  void eval_row(int64_t step, double eval_loss, int64_t eval_tokens);

 private:
  void write(const std::string& line);
  std::FILE* f_ = nullptr;
  std::string path_;
};

}  // namespace et
