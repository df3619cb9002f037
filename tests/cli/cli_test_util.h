// Helpers of the CLI tests that run `edgetune train`: the built binary in the background (to
// signal or kill it), metrics.jsonl rows, the JSON summary on stdout, the arguments of a small
// run of stories260K.
#pragma once
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "edgetune/core/file_io.h"
#include "test_util.h"

namespace et::test {

// The built binary run in `cwd` with stdout / stderr going to files, in the background.
struct Background {
  pid_t pid = -1;
  std::string out_path, err_path;
  // stdout and stderr go to <log_dir>/<name>stdout.txt and <name>stderr.txt.
  Background(const std::vector<std::string>& args, const std::string& cwd, const std::string& log_dir,
             const std::string& name = "") {
    out_path = et::path_join(log_dir, name + "stdout.txt");
    err_path = et::path_join(log_dir, name + "stderr.txt");
    pid = fork();
    if (pid == 0) {
      if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
      int o = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int e = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (o < 0 || e < 0) _exit(126);
      dup2(o, 1);
      dup2(e, 2);
      std::vector<std::string> copy = args;
      std::string bin = ET_BINARY;
      std::vector<char*> argv = {bin.data()};
      for (auto& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
  }
  // Exit code, or -1 after `seconds` (the process is then killed).
  int wait(double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    int status = 0;
    while (std::chrono::steady_clock::now() < end) {
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    pid = -1;
    return -1;
  }
  ~Background() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  std::string out() const { return et::file_exists(out_path) ? et::read_text_file(out_path) : ""; }
  std::string err() const { return et::file_exists(err_path) ? et::read_text_file(err_path) : ""; }
};

// Step rows (with "loss") and eval rows of a metrics.jsonl.
struct Metrics {
  std::vector<int64_t> steps;
  std::vector<double> losses;  // of each step row
  std::vector<std::pair<int64_t, double>> evals;
};
inline Metrics read_metrics(const std::string& path) {
  Metrics m;
  if (!et::file_exists(path)) return m;
  std::istringstream in(et::read_text_file(path));
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception&) {
      continue;  // a line being written
    }
    if (j.contains("eval_loss")) m.evals.emplace_back(j["step"].get<int64_t>(), j["eval_loss"].get<double>());
    else if (j.contains("loss")) {
      m.steps.push_back(j["step"].get<int64_t>());
      m.losses.push_back(j["loss"].get<double>());
    }
  }
  return m;
}

// The last line of stdout as JSON (the run summary).
inline nlohmann::json summary(const std::string& out) {
  std::string s = out;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  const auto nl = s.rfind('\n');
  return nlohmann::json::parse(nl == std::string::npos ? s : s.substr(nl + 1));
}

// A small run of stories260K (rank-2 adapters on the dense backbone, 4 held-out conversations).
inline std::vector<std::string> tiny_train(const std::string& model, const std::string& out,
                                    const std::vector<std::string>& sets) {
  const std::string src = source_dir();
  std::vector<std::string> args = {"train", et::path_join(src, "recipes/stories-tools.yaml")};
  std::vector<std::string> all = {"model.path=" + model,
                                  "model.device=cpu",
                                  "data.train=" + et::path_join(src, "data/stories-tools/train.jsonl"),
                                  "data.eval=" + et::path_join(src, "data/stories-tools/eval.jsonl"),
                                  "data.eval_max_examples=4",
                                  "data.max_seq_len=128",
                                  "quant.backbone=none",
                                  "adapters.rank=2",
                                  "adapters.alpha=4",
                                  "train.batch_size=2",
                                  "train.schedule=constant",
                                  "train.warmup_steps=0",
                                  "train.lr=3e-3",
                                  "output.export_peft=false",
                                  "output.keep_checkpoints=3",
                                  "output.dir=" + out};
  all.insert(all.end(), sets.begin(), sets.end());
  for (const auto& s : all) {
    args.push_back("--set");
    args.push_back(s);
  }
  return args;
}

inline std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// Every row of metrics.jsonl without the numbers of wall time and memory; every line must parse.
inline std::vector<nlohmann::json> rows(const std::string& dir) {
  std::vector<nlohmann::json> out;
  const std::string text = et::read_text_file(et::path_join(dir, "metrics.jsonl"));
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    EXPECT_NE(nl, std::string::npos) << "a torn last line in " << dir;
    if (nl == std::string::npos) break;
    auto j = nlohmann::json::parse(text.substr(at, nl - at));
    for (const char* k : {"tokens_per_s", "step_s", "mem_mb"}) j.erase(k);
    out.push_back(j);
    at = nl + 1;
  }
  return out;
}

}  // namespace et::test
