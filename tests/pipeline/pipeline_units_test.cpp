// Unit tests of the trainer's helpers: Dice counting, progress formatting, run files (log, SVG, atomic writes, git
// revision lookup), the config's JSON round trip and option parsing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "kernels/conv2d/winograd.h"
#include "kernels/matmul/gemm.h"
#include "pipeline/metrics.h"
#include "pipeline/progress.h"
#include "pipeline/run_files.h"
#include "pipeline/train_config.h"
#include "tests/pipeline/pipeline_test_util.h"
#include "tests/support/test_util.h"

using namespace cq;
using namespace cq::pipeline;

TEST(PipelineDice, HandCountedLabels) {
  DiceCounter d(3);
  const int64_t pred[] = {0, 1, 1, 2, 0, 1};
  const int64_t tgt[] = {0, 1, 0, 2, 1, 1};
  d.add_labels(pred, tgt, nullptr, 6);
  // class 0: TP 1, FP 1 (pixel 4), FN 1 (pixel 2) -> 2/4; class 1: TP 2, FP 1, FN 1 -> 4/6; class 2: TP 1 -> 1.
  EXPECT_DOUBLE_EQ(d.dice(0), 0.5);
  EXPECT_DOUBLE_EQ(d.dice(1), 4.0 / 6.0);
  EXPECT_DOUBLE_EQ(d.dice(2), 1.0);
  EXPECT_DOUBLE_EQ(d.foreground_dice(), (4.0 / 6.0 + 1.0) / 2);
  EXPECT_DOUBLE_EQ(d.mean_dice(), (0.5 + 4.0 / 6.0 + 1.0) / 3);
  // Sums over calls (dataset-level counting), and the valid mask excludes pixels.
  const uint8_t valid[] = {1, 1, 0, 0, 0, 0};
  d.add_labels(pred, tgt, valid, 6);
  EXPECT_EQ(d.tp()[0], 2u);
  EXPECT_EQ(d.tp()[1], 3u);
  EXPECT_EQ(d.fp()[1], 1u);
}

TEST(PipelineDice, NoSupportIsDroppedAndLogitsArgmax) {
  Context ctx = cq::testing::make_ctx();
  DiceCounter d(3);
  // [1,3,1,2] logits: pixel 0 -> class 1, pixel 1 -> tie between 0 and 2 -> 0 (first maximum).
  Tensor logits = ctx.from_vector(std::vector<float>{0, 5, 9, 1, 1, 5}, {1, 3, 1, 2});
  Tensor y = ctx.from_vector(std::vector<int64_t>{1, 0}, {1, 1, 2});
  logits = ctx.from_vector(std::vector<float>{0, 5, 9, 1, 1, 5}, {1, 3, 1, 2});
  d.add(logits, y);
  // pixel0: logits (0, 9, 1) -> 1 = target; pixel1: (5, 1, 5) -> 0 = target.
  EXPECT_DOUBLE_EQ(d.dice(0), 1.0);
  EXPECT_DOUBLE_EQ(d.dice(1), 1.0);
  EXPECT_TRUE(std::isnan(d.dice(2)));
  EXPECT_DOUBLE_EQ(d.foreground_dice(), 1.0);
  DiceCounter empty(2);
  EXPECT_TRUE(std::isnan(empty.foreground_dice()));
  const int64_t bad[] = {2};
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { empty.add_labels(bad, bad, nullptr, 1); }),
                                    "out of range"));
}

TEST(PipelineProgress, FormatAndNonTtyDeciles) {
  const std::string s = Progress::format("epoch 1/2 train", 5, 20, 10.0, 0.75);
  EXPECT_TRUE(cq::testing::contains(s, "5/20")) << s;
  EXPECT_TRUE(cq::testing::contains(s, "0.50 step/s")) << s;
  EXPECT_TRUE(cq::testing::contains(s, "ETA 0:30")) << s;
  EXPECT_TRUE(cq::testing::contains(s, "loss 0.7500")) << s;
  EXPECT_TRUE(cq::testing::contains(s, "[#####...............]")) << s;
  EXPECT_EQ(Progress::duration(3725), "1:02:05");
  EXPECT_FALSE(cq::testing::contains(Progress::format("x", 0, 3, 0, NAN), "loss"));

  const std::string path = cq::testing::temp_path("progress.txt");
  std::FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  Progress p(f, "t", 100, 0);
  for (int i = 1; i <= 100; ++i) p.update(i, 1.0);
  p.finish("done");
  std::fclose(f);
  const std::string text = read_text(path);
  // One line per 10% (10, 20, ..., 90) plus the final one; never a carriage return into a file.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 10) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_TRUE(cq::testing::contains(text, "100/100")) << text;
  EXPECT_TRUE(cq::testing::contains(text, "done"));
}

TEST(PipelineRunFiles, LogRoundTripAndSvg) {
  std::vector<EpochRecord> recs(3);
  for (int i = 0; i < 3; ++i) {
    recs[i].epoch = i + 1;
    recs[i].train_loss = 1.0 / (i + 1);
    recs[i].val_loss = 1.2 / (i + 1);
    recs[i].train_dc1 = NAN;
    recs[i].val_dice = 0.5 + 0.1 * i;
    recs[i].steps = 10;
  }
  recs[2].best = true;
  const std::string text = log_jsonl(recs);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
  EXPECT_TRUE(cq::testing::contains(text, "\"train_dc1\":null"));
  std::vector<EpochRecord> back = parse_log_jsonl(text, "log.jsonl");
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[2].epoch, 3);
  EXPECT_EQ(back[1].train_loss, recs[1].train_loss);  // %.17g round-trips exactly
  EXPECT_TRUE(std::isnan(back[0].train_dc1));
  EXPECT_TRUE(back[2].best);
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([] { parse_log_jsonl("{\"epoch\":1}\n{oops", "L"); }),
                                    "L line 2"));

  const std::string svg = loss_curve_svg(recs, "a <title> & more");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_TRUE(cq::testing::contains(svg, "</svg>"));
  EXPECT_TRUE(cq::testing::contains(svg, "polyline class=\"train\""));
  EXPECT_TRUE(cq::testing::contains(svg, "polyline class=\"validation\""));
  EXPECT_TRUE(cq::testing::contains(svg, "a &lt;title> &amp; more"));
  EXPECT_FALSE(cq::testing::contains(svg, "nan"));
  // A single epoch and non-finite values still make a valid picture.
  recs.resize(1);
  recs[0].val_loss = NAN;
  EXPECT_TRUE(cq::testing::contains(loss_curve_svg(recs, "t"), "</svg>"));
}

TEST(PipelineRunFiles, AtomicWriteLeavesNoTemp) {
  cq::testing::TempDir d;
  const std::string p = d / "a.txt";
  write_text_atomic(p, "one");
  write_text_atomic(p, "two");
  EXPECT_EQ(read_text(p), "two");
  EXPECT_EQ(cq::testing::list_dir(d.path()), std::vector<std::string>{"a.txt"});
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { write_text_atomic(d / "no/such/dir/x", "x"); }),
                                    "no/such/dir/x.tmp"));
  make_dirs(d / "x/y/z");
  EXPECT_TRUE(file_exists(d / "x/y/z"));
}

TEST(PipelineRunFiles, GitRevisionFromHeadRefAndPackedRefs) {
  cq::testing::TempDir d;
  const std::string sha = "0123456789abcdef0123456789abcdef01234567";
  std::filesystem::create_directories(d / "repo/.git/refs/heads");
  std::filesystem::create_directories(d / "repo/src/deep");
  write_text_atomic(d / "repo/.git/HEAD", "ref: refs/heads/main\n");
  write_text_atomic(d / "repo/.git/refs/heads/main", sha + "\n");
  EXPECT_EQ(git_revision(d / "repo/src/deep"), sha);  // found by walking up
  std::filesystem::remove(d / "repo/.git/refs/heads/main");
  const std::string sha2 = "fedcba9876543210fedcba9876543210fedcba98";
  write_text_atomic(d / "repo/.git/packed-refs", "# pack-refs with: peeled\n" + sha2 + " refs/heads/main\n");
  EXPECT_EQ(git_revision(d / "repo"), sha2);
  // A worktree: .git is a file pointing at its gitdir, refs live in the common dir.
  std::filesystem::create_directories(d / "repo/.git/worktrees/wt");
  std::filesystem::create_directories(d / "wt");
  write_text_atomic(d / "wt/.git", "gitdir: " + d.path() + "/repo/.git/worktrees/wt\n");
  write_text_atomic(d / "repo/.git/worktrees/wt/HEAD", "ref: refs/heads/main\n");
  write_text_atomic(d / "repo/.git/worktrees/wt/commondir", "../..\n");
  EXPECT_EQ(git_revision(d / "wt"), sha2);
  write_text_atomic(d / "repo/.git/HEAD", "garbage\n");
  EXPECT_EQ(git_revision(d / "repo"), "unknown");
  EXPECT_EQ(git_revision("/"), "unknown");
  json::Value b = build_info();
  ASSERT_NE(b.find("compiler"), nullptr);
  EXPECT_FALSE(b.find("compiler")->as_string().empty());
  ASSERT_NE(b.find("cq_cuda"), nullptr);
  // The compiled-in revision is this checkout's HEAD (the build regenerates it); "unknown" when CMake found no git.
  ASSERT_NE(b.find("source_revision"), nullptr);
  EXPECT_EQ(b.find("source_revision")->as_string(), build_source_revision());
  EXPECT_EQ(b.find("source_modified")->as_bool(), build_source_modified());
  EXPECT_EQ(std::string(build_source_revision()), CQ_GIT_FOUND ? git_revision(CQ_SOURCE_DIR) : "unknown");
  // What fixes the last bits at run time: the GEMM's instruction set and whether Winograd convolutions run.
  json::Value n = numerics_info();
  ASSERT_NE(n.find("cpu_isa"), nullptr);
  EXPECT_EQ(n.find("cpu_isa")->as_string(), kernels::cpu_isa_name(kernels::cpu_isa()));
  ASSERT_NE(n.find("conv_winograd"), nullptr);
  EXPECT_EQ(n.find("conv_winograd")->as_bool(), kernels::winograd::enabled());
  if (kernels::cpu_isa() != kernels::CpuIsa::avx512) {
    EXPECT_FALSE(n.find("conv_winograd")->as_bool());
  }
}

TEST(PipelineConfig, JsonRoundTripAndParsing) {
  TrainConfig c;
  c.data_root = "/d";
  c.out = "/o";
  c.mode = "aug";
  c.seed = 18446744073709551615ull;  // above 2^53: stored as a string
  c.lr = 3e-4;
  TrainConfig b = TrainConfig::from_json(json::parse(json::dump(c.to_json())));
  EXPECT_EQ(json::dump(b.to_json()), json::dump(c.to_json()));
  EXPECT_EQ(b.seed, c.seed);
  EXPECT_EQ(b.lr, 3e-4);
  json::Value v = c.to_json();
  v.set("bogus", json::Value::number(1));
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { TrainConfig::from_json(v); }), "unknown key 'bogus'"));

  int h = 0, w = 0;
  parse_size("512x768", &h, &w);
  EXPECT_EQ(h, 512);
  EXPECT_EQ(w, 768);
  for (const char* bad : {"512", "x768", "512x", "-32x32", "32x32x1", "axb", ""})
    EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { parse_size(bad, &h, &w); }), "HEIGHTxWIDTH")) << bad;
  double a, b2, c3;
  parse_lambdas("0.3,0.7,1.0", &a, &b2, &c3);
  EXPECT_EQ(a, 0.3);
  EXPECT_EQ(c3, 1.0);
  for (const char* bad : {"0.3,0.7", "0.3,0.7,1,2", "a,b,c", "0.3,,1", "-1,0,0", "nan,1,1"})
    EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { parse_lambdas(bad, &a, &b2, &c3); }), "lambdas"))
        << bad;
  TrainConfig bad = c;
  bad.height = 100;
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { bad.validate(); }), "multiples of 32"));
  bad = c;
  bad.mode = "fancy";
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { bad.validate(); }), "--mode"));
}
