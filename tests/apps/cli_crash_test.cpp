// Crash safety of `cqseg train` through the built binary: kill -9 at random moments and, every other time, while a
// checkpoint is being written (as soon as its temp file appears, plus a random delay) never leaves an unreadable
// last.safetensors, and --resume then finishes the run with every epoch logged once. CQ_CRASH_KILLS sets the number of kills (default 6).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "pipeline/checkpoint.h"
#include "pipeline/run_files.h"
#include "tensor/rng.h"
#include "tests/pipeline/pipeline_test_util.h"
#include "tests/support/cli.h"
#include "tests/support/test_util.h"

using namespace cq;

namespace {
// Starts cqseg with args (output discarded); returns its pid.
pid_t spawn_cqseg(const std::vector<std::string>& args) {
  const std::string exe = cq::testing::cqseg_path();
  std::vector<char*> argv{const_cast<char*>(exe.c_str())};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    if (std::freopen("/dev/null", "w", stdout) == nullptr || std::freopen("/dev/null", "w", stderr) == nullptr)
      ::_exit(126);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}
}  // namespace

TEST(CliCrash, KillDuringCheckpointWriteThenResume) {
  CQ_REQUIRE_CQSEG();
  cq::testing::TempDir d;
  cq::testing::make_synthetic_dataset(d.path());
  const std::string run = d / "run";
  const std::vector<std::string> common = {"--data", d.path(), "--train-domain", "SYN", "--val-split", "val",
                                           "--size", "32x32", "--threads", "1", "--workers", "1", "--mode", "base",
                                           "--max-steps", "1", "--max-val-batches", "1", "--quiet"};
  std::vector<std::string> first = {"train", "--out", run, "--epochs", "1"};
  first.insert(first.end(), common.begin(), common.end());
  {
    const pid_t p = spawn_cqseg(first);
    int st = 0;
    ::waitpid(p, &st, 0);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "first epoch failed";
  }
  int kills = 6;
  if (const char* e = std::getenv("CQ_CRASH_KILLS")) kills = std::atoi(e);
  Rng rng(2024);
  int mid_write = 0;
  for (int k = 0; k < kills; ++k) {
    // A temp file left by the previous kill is removed (the next write would overwrite it) so that its presence
    // after this kill means this kill landed inside a write.
    std::filesystem::remove(run + "/last.safetensors.tmp");
    const pid_t p = spawn_cqseg({"train", "--resume", run, "--epochs", "1000", "--quiet"});
    if (k % 2 == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng.below(2500)));  // any moment
    } else {
      // Inside a checkpoint write: the temp file exists only while one is being written.
      const auto t0 = std::chrono::steady_clock::now();
      while (!std::filesystem::exists(run + "/last.safetensors.tmp") &&
             std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120))
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      std::this_thread::sleep_for(std::chrono::microseconds(rng.below(3000)));
    }
    ::kill(p, SIGKILL);
    int st = 0;
    ::waitpid(p, &st, 0);
    if (std::filesystem::exists(run + "/last.safetensors.tmp")) ++mid_write;
    // Whatever the moment, the last checkpoint is whole and loads.
    Context ctx = cq::testing::make_ctx();
    const pipeline::LoadedCheckpoint c = pipeline::load_checkpoint(ctx, run + "/last.safetensors");
    EXPECT_GE(c.state.epoch, 1);
  }
  std::printf("[ crash    ] %d kill -9, %d of them during a checkpoint write\n", kills, mid_write);
  Context ctx = cq::testing::make_ctx();
  const int64_t at = pipeline::load_checkpoint(ctx, run + "/last.safetensors").state.epoch;
  const cq::testing::CliRun r = cq::testing::run_cqseg("train --resume " + run + " --epochs " + std::to_string(at + 1) + " --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto log = pipeline::parse_log_jsonl(pipeline::read_text(run + "/log.jsonl"), "log");
  ASSERT_EQ(int64_t(log.size()), at + 1);
  for (size_t i = 0; i < log.size(); ++i) EXPECT_EQ(log[i].epoch, int(i + 1));  // each epoch once, in order
  EXPECT_FALSE(std::filesystem::exists(run + "/last.safetensors.tmp"));
}
