// `cqseg demo --quick` end to end through the built binary: data folder, two runs, references, tables, verdict lines,
// report.md and the overlay sheets; a rerun into the same folder; usage errors. Skips when the binary is not built.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "nn/json.h"
#include "pipeline/run_files.h"
#include "tests/data/data_test_util.h"
#include "tests/support/cli.h"
#include "tests/support/test_util.h"

using cq::testing::contains;

namespace {

using cq::testing::CliRun;
CliRun run(const std::string& args, bool with_stderr = true) { return cq::testing::run_cqseg(args, with_stderr); }

}  // namespace

TEST(DemoCli, QuickRunEndToEnd) {
  CQ_REQUIRE_CQSEG();
  cq::testing::TempDir t;
  const std::string out = t / "demo";
  const CliRun r = run("demo --quick --threads 1 --quiet --out '" + out + "'", false);
  ASSERT_EQ(r.code, 0) << r.out;
  std::printf("%s", r.out.c_str());
  // The printed tables: one per domain, every DCIN column, both models.
  for (const char* s : {"HQ/test (3 images), source domain", "LQ/test (3 images), target domain",
                        "CAM/test (3 images), target domain", "| model | no DCIN | ExRI | GRIS | LRIS | GRIS+LRIS |",
                        "| base (base) |", "| cqg (cqg) |"})
    EXPECT_TRUE(contains(r.out, s)) << s;
  // The verdict lines, whatever they say at this tiny size.
  for (const char* s : {"Learning: on the source domain", "Paper effect 1, DCIN (GRIS+LRIS) raises",
                        "Paper effect 2, CQG raises", "Both together", "Best setting for base on LQ/test"})
    EXPECT_TRUE(contains(r.out, s)) << s;
  EXPECT_TRUE(contains(r.out, "SHOWN") || contains(r.out, "MIXED")) << r.out;

  namespace fs = std::filesystem;
  for (const char* f : {"demo.json", "report.md", "metrics.json", "overlays/domains.png", "refs/gris.json",
                        "refs/bank_base.safetensors", "refs/bank_cqg.safetensors", "runs/base/last.safetensors",
                        "runs/cqg/recalibrated.safetensors", "data/HQ/train/images/train_000.png",
                        "data/HQ/train/masks/train_000.png", "data/LQ/test/images/test_002.png",
                        "data/CAM/test/masks/test_002.png"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  const std::string report = cq::pipeline::read_text(out + "/report.md");
  for (const char* s : {"# cqseg demo", "## Verdict", "- Paper effect 1", "- Paper effect 2", "## Evaluation",
                        "## LQ/test", "## CAM/test", "![HQ, LQ and CAM samples", "overlays/CAM_test__cqg__cqg_.png"})
    EXPECT_TRUE(contains(report, s)) << s;
  int sheets = 0;
  for (const auto& e : fs::directory_iterator(out + "/overlays")) sheets += e.path().extension() == ".png";
  EXPECT_EQ(sheets, 7);  // domains.png + 3 domains x 2 models
  const cq::json::Value m = cq::json::parse(cq::pipeline::read_text(out + "/metrics.json"));
  const cq::json::Value* demo = m.find("demo");
  ASSERT_NE(demo, nullptr);
  ASSERT_NE(demo->find("effects"), nullptr);
  EXPECT_EQ(demo->find("effects")->as_array().size(), 6u);  // 3 comparisons x 2 target domains
  for (const auto& e : demo->find("effects")->as_array()) {
    const std::string v = e.find("verdict")->as_string();
    EXPECT_TRUE(v == "yes" || v == "no" || v == "unclear") << v;
  }

  // A rerun into the demo's own folder replaces it; a folder of other files is refused.
  const CliRun again = run("demo --quick --threads 1 --quiet --data-only --out '" + out + "'", false);
  EXPECT_EQ(again.code, 0) << again.out;
  EXPECT_FALSE(fs::exists(out + "/runs"));
  EXPECT_TRUE(fs::exists(out + "/data/HQ/val/images/val_001.png"));
  cq::testing::write_bytes(t / "other/file.txt", {1, 2, 3});
  const CliRun refused = run("demo --quick --quiet --out '" + t / "other" + "'");
  EXPECT_EQ(refused.code, 1);
  EXPECT_TRUE(contains(refused.out, "no demo.json")) << refused.out;
  EXPECT_TRUE(fs::exists(t / "other/file.txt"));
}

TEST(DemoCli, UsageErrors) {
  CQ_REQUIRE_CQSEG();
  struct Case {
    const char* args;
    const char* msg;
  };
  const Case cases[] = {
      {"demo --size 100x128", "multiples of 32"},
      {"demo --epochs 0", "--epochs expects an integer"},
      {"demo --images 4,2,3", "four counts"},
      {"demo --images 2,1,1,1 --batch 4", "at least one batch"},
      {"demo --magic", "unknown option '--magic'"},
      {"demo --quick=1", "--quick takes no value"},
  };
  for (const Case& c : cases) {
    const CliRun r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_TRUE(contains(r.out, c.msg)) << c.args << "\n" << r.out;
  }
  const CliRun h = run("demo --help");
  EXPECT_EQ(h.code, 0);
  EXPECT_TRUE(contains(h.out, "usage: cqseg demo"));
}
