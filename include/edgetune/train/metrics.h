// metrics.jsonl: one JSON object per line, flushed as written. Step rows carry step, loss, lr,
// grad_norm, tokens (trained tokens in the step), tokens_per_s (all tokens processed), step_s and
// mem_mb; eval rows carry step, eval_loss and eval_tokens (the first at step 0, before any update);
// a skipped step's row (a non-finite or exploded loss or gradient: no update) carries step,
// skipped (why), loss and grad_norm (null when not finite) and lr.
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
  void skipped_row(int64_t step, const std::string& why, double loss, double grad_norm, double lr);

 private:
  void write(const std::string& line);
  std::FILE* f_ = nullptr;
  std::string path_;
};

// What a run's metrics.jsonl says, read whole: the summary of a run is this, however many
// processes (resumes) wrote it. Steps of -1 and losses of NaN mean "no such row".
struct MetricsSummary {
  int64_t last_step = -1;         // the last step row (skipped or not)
  double first_loss = 0;          // the first applied step's loss (step_rows > 0)
  double last_loss = 0;           // the last applied step's loss (step_rows > 0)
  int64_t step_rows = 0;          // applied steps logged
  int64_t skipped_steps = 0;
  int64_t first_eval_step = -1;   // 0 when the run was evaluated before any update
  double first_eval_loss = 0;
  int64_t last_eval_step = -1;
  double last_eval_loss = 0;
};
// A missing file is an empty summary; a torn line (a killed writer's last) is ignored.
MetricsSummary summarize_metrics(const std::string& path);

}  // namespace et
