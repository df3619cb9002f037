#include "edgetune/core/progress.h"

#include <cstdio>

#include "edgetune/core/log.h"

namespace et {

std::string format_duration(double s) {
  if (s < 0) return "?";
  long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

Progress::Progress(std::string label, int64_t total, double plain_interval_s)
    : label_(std::move(label)), total_(total), plain_interval_s_(plain_interval_s),
      tty_(stderr_is_tty() && log_level() <= LogLevel::info),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() {
  if (!finished_ && tty_ && done_ > 0) std::fprintf(stderr, "\n");
}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double Progress::eta_s() const {
  if (start_done_ < 0 || done_ <= start_done_ || total_ <= 0) return -1;
  double rate = (done_ - start_done_) / elapsed_s();
  return rate > 0 ? (total_ - done_) / rate : -1;
}

void Progress::update(int64_t done, const std::string& extra) {
  if (start_done_ < 0) {  // rate is measured from the first update (resumed runs start late)
    start_done_ = done;
    start_ = std::chrono::steady_clock::now();
  }
  done_ = done;
  extra_ = extra;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  if (tty_ ? since >= 0.1 : since >= plain_interval_s_) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish(const std::string& extra) {
  if (finished_) return;
  if (!extra.empty()) extra_ = extra;
  draw(true);
  finished_ = true;
}

void Progress::draw(bool final_line) {
  if (log_level() > LogLevel::info) return;
  const int width = 24;
  double frac = total_ > 0 ? static_cast<double>(done_) / total_ : 0;
  if (frac > 1) frac = 1;
  std::string bar(width, ' ');
  for (int i = 0; i < static_cast<int>(frac * width + 0.5); ++i) bar[i] = '#';
  std::string eta = final_line ? format_duration(elapsed_s()) : "eta " + format_duration(eta_s());
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s [%s] %lld/%lld %s %s%s", label_.c_str(), bar.c_str(),
                 static_cast<long long>(done_), static_cast<long long>(total_), extra_.c_str(),
                 eta.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s %lld/%lld %s %s\n", label_.c_str(), static_cast<long long>(done_),
                 static_cast<long long>(total_), extra_.c_str(), eta.c_str());
  }
  std::fflush(stderr);
}

}  // namespace et
