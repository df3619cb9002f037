// A progress bar on stderr. On a terminal it redraws one line in place; otherwise (logs, CI)
// it prints a plain line at most every `plain_interval_s` seconds and at the end.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace et {

class Progress {
 public:
  Progress(std::string label, int64_t total, double plain_interval_s = 10.0);
  ~Progress();
  // Sets the position and an extra text shown after the bar ("loss 2.31 lr 1e-4").
  void update(int64_t done, const std::string& extra = "");
  void finish(const std::string& extra = "");
  double elapsed_s() const;
  // Seconds left at the current rate, or -1 before it is known.
  double eta_s() const;

 private:
  void draw(bool final_line);
  std::string label_, extra_;
  int64_t total_, done_ = 0, start_done_ = -1;
  double plain_interval_s_;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

}  // namespace et
