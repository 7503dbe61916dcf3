// `cqseg refs`, `cqseg segment` and `cqseg eval` end to end through the built binary on a tiny generated dataset:
// a model trained for two steps at 64x64 by `cqseg train`, then GRIS, a U-Net-encoder bank, a query, full-DCIN
// segmentation and the evaluation tables. Checks the files exist and parse. Skips when the binary is not built.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>

#include "data/image_io.h"
#include "nn/json.h"
#include "pipeline/run_files.h"
#include "refselect/bank.h"
#include "tests/pipeline/pipeline_test_util.h"
#include "tests/support/cli.h"
#include "tests/support/test_util.h"

using cq::testing::contains;

namespace {

using cq::testing::CliRun;
CliRun run(const std::string& args, bool with_stderr = true) { return cq::testing::run_cqseg(args, with_stderr); }

cq::json::Value read_json(const std::string& path) { return cq::json::parse(cq::pipeline::read_text(path)); }

}  // namespace

TEST(CliEval, UsageErrors) {
  CQ_REQUIRE_CQSEG();
  struct Case {
    const char* args;
    const char* msg;
  };
  const Case cases[] = {
      {"segment --model m.safetensors --out /tmp/x", "at least one IMAGE"},
      {"segment a.png --out /tmp/x", "--model CKPT is required"},
      {"segment a.png --model m --out /tmp/x --dcin magic", "none, exri, gris, lris, full"},
      {"segment a.png --model m --out /tmp/x --dcin lris --gris-ref r.json", "needs --bank"},
      {"segment a.png --model m --out /tmp/x --dcin full --bank b", "needs --gris-ref"},
      {"segment a.png --model m --out /tmp/x --dcin exri", "needs --ref IMG"},
      {"segment a.png --model m --out /tmp/x --color-space hsv", "lab-reinhard"},
      {"segment d1/a.png d2/a.png --model m --out /tmp/x", "share the file stem"},
      {"eval --model m --data d --out o", "--domains is required"},
      {"eval --model m --data d --domains DRIVE --out o", "DOMAIN/split"},
      {"eval --model m --data d --domains D/test --out o --dcin none,none", "listed twice"},
      {"eval --model m --data d --domains D/test --out o --stats-threshold 300", "--stats-threshold"},
      {"refs", "usage: cqseg refs"},
      {"refs magic", "unknown refs subcommand"},
      {"refs gris", "--images DIR is required"},
      {"refs bank --images d --out b", "--embedder is required"},
  };
  for (const Case& c : cases) {
    CliRun r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_TRUE(contains(r.out, c.msg)) << c.args << "\n" << r.out;
  }
  for (const char* h : {"segment --help", "eval --help", "refs --help"}) {
    CliRun r = run(h);
    EXPECT_EQ(r.code, 0) << h;
    EXPECT_TRUE(contains(r.out, "usage: cqseg")) << h;
  }
  // Runtime failures name the file: exit 1.
  CliRun m = run("segment /nonexistent/a.png --model /nonexistent/best.safetensors --out " +
                 cq::testing::temp_path("seg_missing"));
  EXPECT_EQ(m.code, 1) << m.out;
  EXPECT_TRUE(contains(m.out, "/nonexistent/best.safetensors")) << m.out;
}

TEST(CliEval, TrainRefsSegmentEval) {
  CQ_REQUIRE_CQSEG();
  cq::testing::TempDir d;
  cq::testing::make_synthetic_dataset(d.path());
  cq::testing::make_synthetic_split(d.path(), "TGT", "test", 3, 44, 40, 9);
  for (int i = 0; i < 3; ++i) {  // a field of view: all but the first two columns
    cq::data::Image fov(44, 40, 1, 255);
    for (int y = 0; y < 44; ++y) fov.at(y, 0) = fov.at(y, 1) = 0;
    cq::testing::write_png_file(d / ("TGT/test/fov/s" + std::to_string(i) + ".png"), fov);
  }
  const std::string ckpt = d / "run/best.safetensors";
  CliRun t = run("train --data " + d.path() + " --train-domain SYN --val-split val --size 64x64 --epochs 1 "
                 "--max-steps 2 --threads 1 --workers 1 --mode base --quiet --out " + (d / "run"));
  ASSERT_EQ(t.code, 0) << t.out;

  CliRun g = run("refs gris --images " + (d / "SYN/train") + " --out " + (d / "ref.json") + " --quiet");
  ASSERT_EQ(g.code, 0) << g.out;
  const cq::json::Value gj = read_json(d / "ref.json");
  EXPECT_EQ(gj.find("count")->as_number(), 4);
  EXPECT_TRUE(contains(gj.find("chosen")->find("file")->as_string(), "/SYN/train/images/s"));
  EXPECT_EQ(gj.find("mean_distances")->as_array().size(), 4u);

  CliRun b = run("refs bank --images " + (d / "SYN/train") + " --embedder unet:" + ckpt + " --out " +
                 (d / "bank.safetensors") + " --threads 1");
  ASSERT_EQ(b.code, 0) << b.out;
  EXPECT_TRUE(contains(b.out, "bank unet@")) << b.out;  // the progress bar
  const cq::dcin::RefBank bank = cq::dcin::RefBank::load(d / "bank.safetensors");
  EXPECT_EQ(bank.size(), 4);
  EXPECT_EQ(bank.dim(), 352);
  EXPECT_EQ(bank.input_h(), 64);
  EXPECT_EQ(bank.embedder().rfind("unet@", 0), 0u);

  CliRun q = run("refs query --bank " + (d / "bank.safetensors") + " --image " + (d / "TGT/test/images/s0.png") +
                 " --embedder unet:" + ckpt + " --k 3");
  ASSERT_EQ(q.code, 0) << q.out;
  EXPECT_TRUE(contains(q.out, "rank\tsimilarity\tfile\n1\t")) << q.out;
  EXPECT_TRUE(contains(q.out, "\n3\t")) << q.out;
  CliRun qn = run("refs query --bank " + (d / "bank.safetensors") + " --image " + (d / "TGT/test/images/s0.png"));
  EXPECT_EQ(qn.code, 2);
  EXPECT_TRUE(contains(qn.out, "was built with 'unet@")) << qn.out;

  CliRun s = run("segment " + (d / "TGT/test/images/s0.png") + " " + (d / "TGT/test/images/s1.png") + " --model " +
                 ckpt + " --dcin full --gris-ref " + (d / "ref.json") + " --bank " + (d / "bank.safetensors") +
                 " --threads 1 --out " + (d / "seg"));
  ASSERT_EQ(s.code, 0) << s.out;
  EXPECT_EQ(cq::testing::list_dir(d / "seg"),
            (std::vector<std::string>{"s0_gris.png", "s0_lris.png", "s0_mask.png", "s0_overlay.png", "s1_gris.png",
                                      "s1_lris.png", "s1_mask.png", "s1_overlay.png", "segment.json"}));
  const cq::data::Image mask = cq::data::read_mask(d / "seg/s0_mask.png");
  EXPECT_EQ(mask.h, 44);  // the image's own size, not the model's 64x64
  EXPECT_EQ(mask.w, 40);
  for (uint8_t v : mask.px) ASSERT_LT(v, 2);
  EXPECT_EQ(cq::data::read_image(d / "seg/s0_overlay.png").w, 40);
  const cq::json::Value sj = read_json(d / "seg/segment.json");
  EXPECT_EQ(sj.find("images")->as_array().size(), 2u);
  EXPECT_TRUE(contains(sj.find("images")->as_array()[0].find("lris")->as_string(), "/SYN/train/images/"));

  CliRun e = run("eval --model " + ckpt + " --data " + d.path() + " --domains TGT/test,SYN/val --threads 1 "
                 "--sheet-images 2 --out " + (d / "ev"));
  ASSERT_EQ(e.code, 0) << e.out;
  EXPECT_TRUE(contains(e.out, "| model | no DCIN | ExRI | GRIS | LRIS | GRIS+LRIS |")) << e.out;
  const std::string report = cq::pipeline::read_text(d / "ev/report.md");
  for (const char* part : {"## TGT/test (3 images)", "## SYN/val (2 images)", "Paper Dice, inside the field of view",
                           "| base (run) |", "overlays/TGT_test__base__run_.png"})
    EXPECT_TRUE(contains(report, part)) << part << "\n" << report;
  const cq::json::Value mj = read_json(d / "ev/metrics.json");
  const auto& res = mj.find("results")->as_array();
  ASSERT_EQ(res.size(), 10u);  // 1 model x 2 domains x 5 settings
  for (const auto& r : res) {
    const double v = r.find("image")->find("dice_mean")->as_number();
    EXPECT_TRUE(v >= 0 && v <= 1) << v;
  }
  EXPECT_FALSE(res[0].find("fov")->is_null());  // TGT has fov/
  EXPECT_TRUE(res[5].find("fov")->is_null());   // SYN/val has none
  const cq::data::Image sheet = cq::data::read_image(d / "ev/overlays/TGT_test__base__run_.png");
  EXPECT_GT(sheet.w, sheet.h * 2);  // 2 rows of 7 tiles
  EXPECT_EQ(mj.find("references")->as_array().size(), 1u);
}
