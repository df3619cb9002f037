#include "edgetune/train/metrics.h"

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
  std::fputs(line.c_str(), f_);
  std::fputc('\n', f_);
  std::fflush(f_);
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

void MetricsWriter::eval_row(int64_t step, double eval_loss, int64_t eval_tokens) {
  nlohmann::ordered_json j;
  j["step"] = step;
  j["eval_loss"] = eval_loss;
  j["eval_tokens"] = eval_tokens;
  write(j.dump());
}

}  // namespace et
