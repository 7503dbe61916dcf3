// `cqseg train` end to end through the built binary (found next to the test binary; the test skips when it is not
// built): help, usage errors with exit code 2, a short run, a resume, and a refused resume option.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>

#include "pipeline/run_files.h"
#include "tests/pipeline/pipeline_test_util.h"
#include "tests/support/cli.h"
#include "tests/support/test_util.h"

using cq::testing::contains;

namespace {

using cq::testing::CliRun;
CliRun run(const std::string& args, bool with_stderr = true) { return cq::testing::run_cqseg(args, with_stderr); }

}  // namespace

TEST(CliTrain, HelpAndUsageErrors) {
  CQ_REQUIRE_CQSEG();
  CliRun h = run("train --help");
  EXPECT_EQ(h.code, 0) << h.out;
  for (const char* opt : {"--data", "--train-domain", "--mode base|aug|cqg", "--lambdas", "--resume", "--init-weights",
                          "--skip-bad", "[512x768]", "[15]"})
    EXPECT_TRUE(contains(h.out, opt)) << opt;
  struct Case {
    const char* args;
    const char* msg;
  };
  const Case cases[] = {
      {"train --data /x", "--out RUN_DIR is required"},
      {"train --out /tmp/x", "--data ROOT is required"},
      {"train --data /x --out /y --bogus 1", "unknown option '--bogus'"},
      {"train --data /x --out /y --mode fancy", "--mode must be base, aug or cqg"},
      {"train --data /x --out /y --size 100x64", "multiples of 32"},
      {"train --data /x --out /y --size 64", "HEIGHTxWIDTH"},
      {"train --data /x --out /y --epochs zero", "--epochs expects an integer"},
      {"train --data /x --out /y --lambdas 1,2", "lambdas"},
      {"train --data /x --out /y --lr abc", "--lr expects a number"},
      {"train --data /x --out /y --batch", "--batch needs a value"},
      {"train --data /x --data /z --out /y", "given twice"},
      {"train stray", "unexpected argument"},
  };
  for (const Case& c : cases) {
    CliRun r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_TRUE(contains(r.out, c.msg)) << c.args << "\n" << r.out;
  }
  // A runtime failure (missing data) is exit 1 with the library's message naming the path.
  CliRun m = run("train --data /nonexistent/root --out " + cq::testing::temp_path("cli_missing") + " --quiet");
  EXPECT_EQ(m.code, 1) << m.out;
  EXPECT_TRUE(contains(m.out, "/nonexistent/root")) << m.out;
}

TEST(CliTrain, RunAndResume) {
  CQ_REQUIRE_CQSEG();
  cq::testing::TempDir d;
  cq::testing::make_synthetic_dataset(d.path());
  const std::string common = "--data " + d.path() + " --train-domain SYN --val-split val --size=32x32 --threads 2 "
                             "--workers 1 --seed 5 --mode aug";
  CliRun r = run("train " + common + " --epochs 1 --out " + (d / "run"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "epoch 1/1: train loss")) << r.out;  // the epoch summary on stderr
  EXPECT_TRUE(contains(r.out, "step/s")) << r.out;                  // progress lines (not a tty: ~10% lines)
  EXPECT_TRUE(contains(r.out, "trained aug")) << r.out;
  EXPECT_EQ(cq::testing::list_dir(d / "run"),
            (std::vector<std::string>{"best.safetensors", "last.safetensors", "log.jsonl", "loss_curve.svg",
                                      "manifest.json"}));
  // Starting again into the same directory is refused; resuming continues to 2 epochs.
  CliRun again = run("train " + common + " --epochs 1 --out " + (d / "run") + " --quiet");
  EXPECT_EQ(again.code, 1) << again.out;
  EXPECT_TRUE(contains(again.out, "--resume")) << again.out;
  CliRun res = run("train --resume " + (d / "run") + " --epochs 2 --quiet");
  ASSERT_EQ(res.code, 0) << res.out;
  EXPECT_EQ(cq::pipeline::parse_log_jsonl(cq::pipeline::read_text(d / "run/log.jsonl"), "log").size(), 2u);
  CliRun bad = run("train --resume " + (d / "run") + " --epochs 3 --lr 0.1");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_TRUE(contains(bad.out, "--lr cannot be changed on --resume")) << bad.out;
}
