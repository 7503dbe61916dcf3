// The three training modes on the real source domain (shared/data/fundus DRIVE/train, validation DRIVE/test) at a
// 256x256 (the size): one full epoch each (10 steps of batch 2, 10 validation batches). Skips without ../shared.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "pipeline/trainer.h"
#include "tests/pipeline/pipeline_test_util.h"
#include "tests/support/shared.h"

using namespace cq;
using namespace cq::pipeline;

namespace {
void run_mode(const std::string& mode) {
  CQ_REQUIRE_SHARED("data/fundus/DRIVE/train/images");
  cq::testing::TempDir d;
  TrainConfig c;
  c.data_root = cq::testing::shared_dir() + "/data/fundus";
  c.train_domain = "DRIVE";
  c.train_split = "train";
  c.val_split = "test";
  c.mode = mode;
  c.epochs = 1;
  c.height = c.width = 256;
  c.threads = 2;
  c.workers = 2;
  c.out = d / "run";
  TrainHooks h;
  h.progress = nullptr;
  TrainResult r = train(c, h);
  ASSERT_EQ(r.log.size(), 1u);
  const EpochRecord& e = r.log[0];
  std::printf("fundus DRIVE 256x256 %s: train loss %.4f (dc1 %.4f dc2 %.4f mse %.4f) val loss %.4f val Dice %.4f, "
              "%d steps, %.2f step/s\n",
              mode.c_str(), e.train_loss, e.train_dc1, e.train_dc2, e.train_mse, e.val_loss, e.val_dice, e.steps,
              e.steps_per_s);
  EXPECT_EQ(e.steps, 10);  // 20 images, batch 2: one full epoch
  EXPECT_TRUE(std::isfinite(e.train_loss) && e.train_loss > 0);
  EXPECT_TRUE(std::isfinite(e.val_loss) && e.val_loss > 0);
  EXPECT_TRUE(e.val_dice >= 0 && e.val_dice <= 1) << e.val_dice;
  EXPECT_EQ(std::isfinite(e.train_mse), mode == "cqg");
  if (mode == "cqg") {
    EXPECT_NEAR(e.train_loss, 0.3 * e.train_dc1 + 0.7 * e.train_dc2 + e.train_mse, 1e-4);
  }
  EXPECT_TRUE(file_exists(c.out + "/best.safetensors"));
  json::Value m = json::parse(read_text(c.out + "/manifest.json"));
  EXPECT_EQ(m.find("data")->find("train")->find("samples")->as_uint(), 20u);
  // Training files are images + masks; validation also hashes the field-of-view masks it scores within.
  EXPECT_EQ(m.find("data")->find("train")->find("files")->as_array().size(), 40u);
  EXPECT_EQ(m.find("data")->find("val")->find("files")->as_array().size(), 60u);
}
}  // namespace

TEST(TrainerFundus, BaseOneEpoch) { run_mode("base"); }
TEST(TrainerFundus, AugOneEpoch) { run_mode("aug"); }
TEST(TrainerFundus, CqgOneEpoch) { run_mode("cqg"); }
