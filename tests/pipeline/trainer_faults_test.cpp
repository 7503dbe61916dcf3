// Faults during training: --check-numerics names the tensor and step where a NaN/inf first appears (inputs,
// gradients, weights), no checkpoint ever holds a NaN, and an unwritable output folder is reported before the
// datasets are read or the model is built.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "kernels/elementwise/elementwise.h"
#include "nn/safetensors.h"
#include "pipeline/checkpoint.h"
#include "pipeline/numerics.h"
#include "pipeline/trainer.h"
#include "tests/pipeline/pipeline_test_util.h"
#include "tests/support/test_util.h"

using namespace cq;
using namespace cq::pipeline;
using cq::testing::contains;

namespace {
TrainHooks quiet(bool check) {
  TrainHooks h;
  h.progress = nullptr;
  h.check_numerics = check;
  return h;
}
std::string diverged_msg(const TrainConfig& c, const TrainHooks& h) {
  try {
    train(c, h);
  } catch (const TrainingDiverged& e) {
    return e.what();
  }
  return "";
}
// loss + 0*sqrt(0*loss): the same value, but d/dloss = 1 + 0*inf*0 = NaN, so every gradient becomes NaN while the
// loss stays finite (a fault that first shows in the gradients).
void nan_gradients(Tensor& loss) { loss = add(loss, mul_scalar(sqrt(mul_scalar(loss, 0.0)), 0.0)); }
}  // namespace

TEST(TrainerFaults, DescribeNonFinite) {
  Context ctx;
  Tensor ok = ctx.from_vector(std::vector<float>{1, 2, 3}, {3});
  Tensor bad = ctx.from_vector(std::vector<float>{1, NAN, INFINITY, -INFINITY, 0, 2}, {2, 3});
  EXPECT_EQ(describe_nonfinite({{"a", ok}}, "x"), "");
  const std::string m = describe_nonfinite({{"a", ok}, {"b", bad}}, "weight");
  EXPECT_EQ(m, "weight 'b' [2,3]: 3 of 6 values are non-finite (first: NaN at flat index 1)") << m;
  EXPECT_EQ(find_nonfinite(ctx.from_vector(std::vector<int64_t>{1, 2}, {2})).count, 0);
  EXPECT_EQ(find_nonfinite(ctx.from_vector(std::vector<double>{1, -INFINITY}, {2}, DType::f64)).first_value,
            -INFINITY);
}

TEST(TrainerFaults, CheckNumericsNamesTheGradientAndStep) {
  cq::testing::TempDir d;
  cq::testing::make_synthetic_dataset(d.path());
  TrainConfig c = cq::testing::tiny_config(d.path(), d / "run", "base");
  c.epochs = 2;
  TrainHooks h = quiet(true);
  h.on_loss = [](int64_t epoch, int64_t step, Tensor& loss) {
    if (epoch == 1 && step == 0) nan_gradients(loss);
  };
  const std::string msg = diverged_msg(c, h);
  EXPECT_TRUE(contains(msg, "gradient of parameter 'encoder.")) << msg;
  EXPECT_TRUE(contains(msg, "NaN at flat index 0")) << msg;
  EXPECT_TRUE(contains(msg, "at epoch 2 step 1 (--check-numerics)")) << msg;
  EXPECT_TRUE(contains(msg, "(epoch 1) is kept")) << msg;
  // Without the option the NaN gradients poison the weights; the run still stops before any checkpoint holds them.
  TrainConfig c2 = cq::testing::tiny_config(d.path(), d / "run2", "base");
  TrainHooks h2 = quiet(false);
  h2.on_loss = [](int64_t, int64_t step, Tensor& loss) {
    if (step == 1) nan_gradients(loss);  // the last step of the epoch: next comes validation, then the checkpoint
  };
  const std::string m2 = diverged_msg(c2, h2);
  EXPECT_FALSE(m2.empty());
  EXPECT_FALSE(std::filesystem::exists(d / "run2/last.safetensors")) << m2;
  EXPECT_FALSE(std::filesystem::exists(d / "run2/best.safetensors")) << m2;
}

TEST(TrainerFaults, CheckNumericsNamesANanWeightBeforeTheFirstStep) {
  cq::testing::TempDir d;
  cq::testing::make_synthetic_dataset(d.path());
  TrainConfig c = cq::testing::tiny_config(d.path(), d / "run", "base");
  c.max_steps = 1;
  train(c, quiet(false));
  // The checkpoint with one NaN in the segmentation head, as --init-weights.
  Context ctx = cq::testing::make_ctx();
  SafetensorsFile f = SafetensorsFile::open(d / "run/last.safetensors");
  std::vector<std::pair<std::string, Tensor>> ts;
  for (const auto& e : f.entries()) {
    Tensor t = f.load(ctx, e);
    if (e.name == "model/segmentation_head.0.weight") t.data<float>()[3] = NAN;
    ts.emplace_back(e.name, t);
  }
  save_safetensors(d / "nan.safetensors", ts, f.metadata());
  TrainConfig c2 = cq::testing::tiny_config(d.path(), d / "run2", "base");
  c2.init_weights = d / "nan.safetensors";
  const std::string msg = diverged_msg(c2, quiet(true));
  EXPECT_TRUE(contains(msg, "parameter (before training) 'segmentation_head.0.weight'")) << msg;
  EXPECT_TRUE(contains(msg, "1 of")) << msg;
  EXPECT_TRUE(contains(msg, "flat index 3")) << msg;
  // Without the option the loss check (always on) stops at the first step.
  TrainConfig c3 = c2;
  c3.out = d / "run3";
  EXPECT_TRUE(contains(diverged_msg(c3, quiet(false)), "training loss is NaN at epoch 1 step 1"));
}

// Read-only output folder: refused at once, before the (here missing) dataset is looked at. As root, permissions do
// not apply, so the folder is a read-only tmpfs mount (skipped where mounting is not allowed).
TEST(TrainerFaults, ReadOnlyOutputFolderIsReportedBeforeTraining) {
  cq::testing::TempDir d;
  const std::string out = d / "ro";
  std::filesystem::create_directories(out);
  bool mounted = false;
  if (::geteuid() == 0) {
    if (::mount("tmpfs", out.c_str(), "tmpfs", MS_RDONLY, "size=64k") != 0)
      GTEST_SKIP() << "root without mount rights: cannot make a read-only folder (" << std::strerror(errno) << ")";
    mounted = true;
  } else {
    ::chmod(out.c_str(), 0555);
  }
  TrainConfig c = cq::testing::tiny_config(d / "no_such_data", out, "base");
  const std::string msg = cq::testing::error_of([&] { train(c, quiet(false)); });
  EXPECT_TRUE(contains(msg, "output folder '" + out + "' is not writable")) << msg;
  EXPECT_FALSE(contains(msg, "no_such_data")) << msg;
  if (mounted) ::umount(out.c_str());
  ::chmod(out.c_str(), 0755);
}
