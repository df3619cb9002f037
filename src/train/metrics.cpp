#include "edgetune/train/metrics.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"

namespace et {

MetricsWriter::MetricsWriter(const std::string& path, int64_t resume_step) : path_(path) {
  std::string keep;
  if (resume_step > 0 && file_exists(path)) {
    std::istringstream in(read_text_file(path));
    std::string line;
    while (std::getline(in, line)) {
      try {
        auto j = nlohmann::json::parse(line);
        if (j.value("step", int64_t{0}) <= resume_step) keep += line + "\n";
      } catch (const std::exception&) {
        // a torn last line from a killed run: dropped
      }
    }
  }
  if (resume_step > 0) write_file_atomic(path, keep);
  f_ = std::fopen(path.c_str(), resume_step > 0 ? "a" : "w");
  if (!f_) fail("metrics", path, ": cannot open for writing");
}

MetricsWriter::~MetricsWriter() {
  if (f_) std::fclose(f_);
}

void MetricsWriter::write(const std::string& line) {
  // A full disk shows here first (the rows are small and frequent): stop the run, naming it.
  if (std::fputs(line.c_str(), f_) < 0 || std::fputc('\n', f_) == EOF || std::fflush(f_) != 0)
    fail("metrics", path_, ": cannot write (", std::strerror(errno), ")");
}

void MetricsWriter::step_row(int64_t step, double loss, double lr, double grad_norm, int64_t tokens,
                             double tokens_per_s, double step_s, double mem_mb) {
  nlohmann::ordered_json j;
  j["step"] = step;
  j["loss"] = loss;
  j["lr"] = lr;
  j["grad_norm"] = grad_norm;
  j["tokens"] = tokens;
  j["tokens_per_s"] = tokens_per_s;
  j["step_s"] = step_s;
  j["mem_mb"] = mem_mb;
  write(j.dump());
}

void MetricsWriter::skipped_row(int64_t step, const std::string& why, double loss, double grad_norm, double lr) {
  nlohmann::ordered_json j;
  j["step"] = step;
  j["skipped"] = why;
  j["loss"] = std::isfinite(loss) ? nlohmann::ordered_json(loss) : nlohmann::ordered_json();
  j["grad_norm"] = std::isfinite(grad_norm) ? nlohmann::ordered_json(grad_norm) : nlohmann::ordered_json();
  j["lr"] = lr;
  write(j.dump());
}

void MetricsWriter::eval_row(int64_t step, double eval_loss, int64_t eval_tokens) {
  nlohmann::ordered_json j;
  j["step"] = step;
  j["eval_loss"] = eval_loss;
  j["eval_tokens"] = eval_tokens;
  write(j.dump());
}

MetricsSummary summarize_metrics(const std::string& path) {
  MetricsSummary m;
  if (!file_exists(path)) return m;
  std::istringstream in(read_text_file(path));
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      continue;  // a torn last line from a killed run
    }
    if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer()) continue;
    const int64_t step = j["step"].get<int64_t>();
    auto number = [&](const char* key, double* out) {
      auto it = j.find(key);
      if (it == j.end() || !it->is_number()) return false;
      *out = it->get<double>();
      return true;
    };
    double v = 0;
    if (number("eval_loss", &v)) {
      if (m.first_eval_step < 0) {
        m.first_eval_step = step;
        m.first_eval_loss = v;
      }
      m.last_eval_step = step;
      m.last_eval_loss = v;
    } else if (j.contains("skipped")) {
      m.last_step = step;
      ++m.skipped_steps;
    } else if (number("loss", &v)) {
      m.last_step = step;
      if (m.step_rows++ == 0) m.first_loss = v;
      m.last_loss = v;
    }
  }
  return m;
}

}  // namespace et
