// `edgetune train` as scripted jobs on devices meet it: started twice into one folder, stopped
// with SIGTERM, SIGKILLed at any moment (during a checkpoint write too), run with a learning rate
// that destroys the model, or out of disk. Every test checks the run's own record (metrics.jsonl,
// the JSON summary, the files) against an uninterrupted run of the same recipe: CPU, fixed seed and
// a constant learning rate, so that the stop step (which depends on timing) does not change what
// any later step computes.
#include <gtest/gtest.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "edgetune/core/dir_lock.h"
#include "edgetune/core/file_io.h"
#include "edgetune/export/patch.h"
#include "edgetune/train/checkpoint.h"
#include "test_util.h"

using et::file_exists;
using et::path_join;
using et::read_text_file;
using et::write_file_atomic;
using et::test::Background;
using et::test::read_metrics;
using et::test::rows;
using et::test::summary;
using et::test::tiny_train;
using et::test::with;

namespace {

// Waits until the run has logged `n` step rows (or ended); returns the last step logged.
int64_t wait_for_steps(Background& run, const std::string& out, size_t n, double seconds = 180) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    auto m = read_metrics(path_join(out, "metrics.jsonl"));
    if (m.steps.size() >= n) return m.steps.back();
    if (waitpid(run.pid, nullptr, WNOHANG) == run.pid) {
      run.pid = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::string checkpoint(const std::string& out, int64_t step) {
  char name[64];
  std::snprintf(name, sizeof name, "checkpoints/step-%08lld.safetensors", static_cast<long long>(step));
  return path_join(out, name);
}

int64_t resumed_from(const std::string& err) {
  const auto at = err.find("resuming from ");
  if (at == std::string::npos) return -1;
  const auto s = err.find(" at step ", at);
  return std::stoll(err.substr(s + 9));
}

// Files named <x>.tmp.<digits> under the run folder.
std::vector<std::string> temp_files(const std::string& out) {
  std::vector<std::string> found;
  for (const std::string& d : {out, path_join(out, "checkpoints"), path_join(out, "peft")}) {
    DIR* dir = opendir(d.c_str());
    if (!dir) continue;
    while (dirent* e = readdir(dir))
      if (std::string(e->d_name).find(".tmp.") != std::string::npos) found.push_back(path_join(d, e->d_name));
    closedir(dir);
  }
  return found;
}

}  // namespace

// A second run into a running run's folder refuses at once, naming the first; the first's
// outputs stay its own (every metrics line whole, its steps once each, its summary's patch).
TEST(RunFaultsCli, TwoRunsIntoOneOutputDirTheSecondRefuses) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  const std::string work = et::test::temp_dir("cli-two-runs");
  const std::string out = path_join(work, "run");
  const auto args = tiny_train(model, out, {"train.max_steps=100000", "train.eval_every=0", "train.save_every=0"});
  Background first(args, "", work, "first-");
  ASSERT_GT(wait_for_steps(first, out, 1), 0) << first.err();
  Background second(args, "", work, "second-");
  ASSERT_EQ(second.wait(120), 1) << "the second run must refuse: " << second.err();
  EXPECT_NE(second.err().find("is in use by another run: pid " + std::to_string(first.pid)), std::string::npos)
      << second.err();
  EXPECT_EQ(second.err().find("loading"), std::string::npos) << "it refuses before loading anything";
  EXPECT_EQ(second.out(), "");

  ASSERT_EQ(kill(first.pid, SIGTERM), 0);
  ASSERT_EQ(first.wait(120), 0) << first.err();
  const nlohmann::json s = summary(first.out());
  EXPECT_EQ(s["patch"], path_join(out, "patch.safetensors"));
  const auto r = rows(out);
  ASSERT_GE(r.size(), 2u);
  EXPECT_EQ(r[0]["step"], 0);
  EXPECT_TRUE(r[0].contains("eval_loss"));
  int64_t want = 1;
  for (size_t i = 1; i < r.size(); ++i)
    if (r[i].contains("loss")) {
      EXPECT_EQ(r[i]["step"], want++) << "each step once, in order";
    }
  EXPECT_EQ(want - 1, s["steps"].get<int64_t>());
  EXPECT_FALSE(file_exists(et::dir_lock_path(out))) << "released at exit";
}

// SIGTERM stops like Ctrl-C: the step finishes, a checkpoint is written, exit 0 with a message;
// --resume then logs what an uninterrupted run logs. The summaries name what was measured: after
// the stop, the step-0 eval only; after the resume, step 0 -> the end; a resume of the finished
// run reports the same.
TEST(RunFaultsCli, SigtermCheckpointsAndResumesIdentically) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  const std::string work = et::test::temp_dir("cli-sigterm");
  const std::string out = path_join(work, "run");
  const std::vector<std::string> common = {"train.eval_every=0", "train.save_every=0"};
  int64_t stopped = 0;
  double eval0 = 0;
  {
    Background run(tiny_train(model, out, with(common, {"train.max_steps=100000"})), "", work, "term-");
    ASSERT_GT(wait_for_steps(run, out, 2), 0) << run.err();
    ASSERT_EQ(kill(run.pid, SIGTERM), 0);
    ASSERT_EQ(run.wait(120), 0) << run.err();
    const nlohmann::json s = summary(run.out());
    EXPECT_TRUE(s["interrupted"].get<bool>());
    EXPECT_EQ(s["stopped_by"], "SIGTERM");
    stopped = s["steps"].get<int64_t>();
    EXPECT_NE(run.err().find("stopped at step " + std::to_string(stopped) + " by SIGTERM; checkpoint saved"),
              std::string::npos)
        << run.err();
    EXPECT_TRUE(file_exists(checkpoint(out, stopped)));
    eval0 = s["eval_loss_before"].get<double>();
    EXPECT_FALSE(s.contains("eval_loss_after")) << "nothing was measured after step 0: " << s.dump();
    EXPECT_NE(run.err().find("not measured since"), std::string::npos) << run.err();
    EXPECT_EQ(run.err().find(" -> "), std::string::npos) << "no 'before -> before': " << run.err();
  }
  const std::string total = "train.max_steps=" + std::to_string(stopped + 3);
  Background resumed(with(tiny_train(model, out, with(common, {total})), {"--resume"}), "", work, "resume-");
  ASSERT_EQ(resumed.wait(180), 0) << resumed.err();
  EXPECT_EQ(resumed_from(resumed.err()), stopped) << resumed.err();
  const nlohmann::json s = summary(resumed.out());
  EXPECT_EQ(s["eval_loss_before"].get<double>(), eval0);

  const std::string ref_out = path_join(work, "reference");
  Background reference(tiny_train(model, ref_out, with(common, {total})), "", work, "ref-");
  ASSERT_EQ(reference.wait(180), 0) << reference.err();
  const auto want = rows(ref_out);
  EXPECT_EQ(rows(out), want);
  const nlohmann::json rs = summary(reference.out());
  EXPECT_EQ(s["eval_loss_after"], rs["eval_loss_after"]);
  EXPECT_EQ(s["train_loss"], rs["train_loss"]);
  EXPECT_NE(resumed.err().find("(step 0) -> " ), std::string::npos) << resumed.err();

  // The finished run resumed again: nothing to train, the same summary (not train_loss 0).
  auto again = et::test::run_cli(with(tiny_train(model, out, with(common, {total})), {"--resume"}));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const nlohmann::json a = summary(again.out);
  EXPECT_EQ(a["train_loss"], rs["train_loss"]);
  EXPECT_EQ(a["eval_loss_before"], rs["eval_loss_before"]);
  EXPECT_EQ(a["eval_loss_after"], rs["eval_loss_after"]);
  EXPECT_EQ(rows(out), want) << "no second final eval row";
}

// SIGKILL halfway through writing a checkpoint, between checkpoints, and while loading: each
// --resume loses at most one checkpoint interval, removes the partial file, takes over the dead
// run's lock with a warning, and the finished run logs exactly what an uninterrupted one logs.
TEST(RunFaultsCli, SigkillAtSeveralMomentsLosesAtMostOneInterval) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  const std::string work = et::test::temp_dir("cli-sigkill");
  const int save_every = 2;
  const auto args = [&](const std::string& out) {
    return tiny_train(model, out, {"train.max_steps=8", "train.eval_every=4", "train.save_every=2"});
  };
  const std::string ref_out = path_join(work, "reference");
  Background reference(args(ref_out), "", work, "ref-");
  ASSERT_EQ(reference.wait(180), 0) << reference.err();
  const auto want = rows(ref_out);

  const std::string out = path_join(work, "run");
  // 1. Killed halfway through writing the step-4 checkpoint.
  ::setenv("EDGETUNE_TEST_KILL_WRITING", "step-00000004", 1);
  Background killed(args(out), "", work, "k1-");
  ::unsetenv("EDGETUNE_TEST_KILL_WRITING");
  ASSERT_EQ(killed.wait(180), 128 + SIGKILL) << killed.err();
  EXPECT_TRUE(file_exists(checkpoint(out, 2)));
  EXPECT_FALSE(file_exists(checkpoint(out, 4)));
  ASSERT_EQ(temp_files(out).size(), 1u) << "the partial checkpoint is there";
  EXPECT_NE(temp_files(out)[0].find("step-00000004.safetensors.tmp."), std::string::npos);
  EXPECT_EQ(read_metrics(path_join(out, "metrics.jsonl")).steps.back(), 4);

  // 2. Resumed, killed between checkpoints (after step 5 is logged).
  {
    Background run(with(args(out), {"--resume"}), "", work, "k2-");
    const int64_t logged = wait_for_steps(run, out, 5);
    ASSERT_GE(logged, 5) << run.err();
    ASSERT_EQ(kill(run.pid, SIGKILL), 0);
    run.wait(60);
    const std::string err = run.err();
    EXPECT_EQ(resumed_from(err), 2) << err;
    EXPECT_NE(err.find("removed " + path_join(out, "checkpoints/step-00000004.safetensors.tmp.")), std::string::npos)
        << err;
    EXPECT_NE(err.find("taking over a stale lock"), std::string::npos) << err;
  }
  const int64_t logged = read_metrics(path_join(out, "metrics.jsonl")).steps.back();
  // 3. Resumed, killed while still loading (before any step).
  {
    Background run(with(args(out), {"--resume"}), "", work, "k3-");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    kill(run.pid, SIGKILL);
    run.wait(60);
  }
  // 4. Resumed to the end.
  Background last(with(args(out), {"--resume"}), "", work, "k4-");
  ASSERT_EQ(last.wait(180), 0) << last.err();
  const int64_t from = resumed_from(last.err());
  EXPECT_GE(from, logged - save_every) << "at most one interval lost: " << last.err();
  EXPECT_EQ(rows(out), want);
  EXPECT_TRUE(temp_files(out).empty());
}

// train.lr: 1e9 saturates the model after one update (the loss sits at ln(vocabulary), the
// gradient is exactly 0): those steps are skipped and reported, and after train.max_bad_steps (3)
// the run stops with an error naming the learning rate; no patch is written.
TEST(RunFaultsCli, AnExplodingLearningRateStopsTheRunNamingIt) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  const std::string work = et::test::temp_dir("cli-lr");
  const std::string out = path_join(work, "run");
  auto r = et::test::run_cli(tiny_train(model, out, {"train.lr=1e9", "train.max_steps=30", "train.eval_every=0"}));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("update skipped"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("3 updates in a row skipped"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("train.lr = 1e+09"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the data ("), std::string::npos) << "names the other suspect: " << r.err;
  EXPECT_FALSE(file_exists(path_join(out, "patch.safetensors")));
  int skipped = 0;
  for (const auto& j : rows(out)) skipped += j.contains("skipped");
  EXPECT_EQ(skipped, 3);
}

// Out of disk (a small tmpfs; needs root, skipped otherwise): a clear error naming the file and
// the cause, no partial file left, the last good checkpoint and the patch intact and loadable;
// with room again, --resume finishes the run.
TEST(RunFaultsCli, DiskFullIsAClearErrorAndKeepsTheLastGoodFiles) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root; skipping";
  const std::string work = et::test::temp_dir("cli-disk-full");
  const std::string mnt = path_join(work, "mnt");
  et::make_dirs(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=4m") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << "); skipping";
  struct Unmount {
    std::string at;
    ~Unmount() { ::umount2(at.c_str(), MNT_DETACH); }
  } unmount{mnt};
  const std::string out = path_join(mnt, "run");
  const auto args = [&](int steps) {
    return tiny_train(model, out, {"train.max_steps=" + std::to_string(steps), "train.eval_every=0",
                                   "train.save_every=2", "output.export_peft=true"});
  };
  auto first = et::test::run_cli(args(4));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string patch = path_join(out, "patch.safetensors");
  const std::string patch_before = read_text_file(patch);
  const std::string ck = checkpoint(out, 4);
  const std::string ck_before = read_text_file(ck);

  // Fill the disk, then leave less room than one checkpoint needs (but enough to start).
  const std::string filler = path_join(mnt, "filler");
  {
    FILE* f = std::fopen(filler.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::vector<char> block(64 << 10, 'x');
    while (std::fwrite(block.data(), 1, block.size(), f) == block.size() && std::fflush(f) == 0) {
    }
    std::fclose(f);
  }
  for (size_t room : {size_t{0}, ck_before.size() / 2}) {
    SCOPED_TRACE("room " + std::to_string(room));
    struct stat st;
    ASSERT_EQ(::stat(filler.c_str(), &st), 0);
    if (room > 0) {
      ASSERT_EQ(::truncate(filler.c_str(), st.st_size - static_cast<off_t>(room)), 0);
    }
    auto r = et::test::run_cli(with(args(8), {"--resume"}));
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("edgetune: error: [") , std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(temp_files(out), std::vector<std::string>{});
    EXPECT_EQ(read_text_file(patch), patch_before);
    EXPECT_EQ(read_text_file(ck), ck_before);
    EXPECT_NO_THROW(et::read_patch(patch));
    EXPECT_EQ(et::load_checkpoint(ck).step, 4);
  }
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  auto done = et::test::run_cli(with(args(8), {"--resume"}));
  ASSERT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(summary(done.out)["steps"], 8);
}
