// Trainer tests on a tiny generated dataset at 32x32 (4 training images, batch 2 -> 2 steps per epoch): determinism,
// bit-identical resume, NaN stop keeping the last good checkpoint, atomic checkpoints, run files.
#include <gtest/gtest.h>

#include <cmath>

#include "data/sha256.h"
#include "kernels/elementwise/elementwise.h"
#include "data/resize.h"
#include "pipeline/checkpoint.h"
#include "pipeline/dcin_model.h"
#include "pipeline/precise_bn.h"
#include "pipeline/run_files.h"
#include "pipeline/init_weights.h"
#include "pipeline/trainer.h"
#include "models/registry.h"
#include "tests/pipeline/pipeline_test_util.h"
#include "tests/support/test_util.h"

using namespace cq;
using namespace cq::pipeline;
using cq::testing::contains;
using cq::testing::error_of;

namespace {
TrainHooks quiet() {
  TrainHooks h;
  h.progress = nullptr;
  return h;
}
bool has_tmp(const std::string& dir) {
  for (const std::string& f : cq::testing::list_dir(dir))
    if (f.size() > 4 && f.compare(f.size() - 4, 4, ".tmp") == 0) return true;
  return false;
}
}  // namespace

// Same seed and threads: bit-identical checkpoints (model, Adam, RNG). cqg exercises both views and drop-connect.
TEST(Trainer, DeterministicCheckpoints) {
  cq::testing::TempDir d;
  cq::testing::make_synthetic_dataset(d.path());
  TrainConfig a = cq::testing::tiny_config(d.path(), d / "a", "cqg");
  TrainConfig b = cq::testing::tiny_config(d.path(), d / "b", "cqg");
  b.workers = 2;  // the loader's thread count must not matter either
  TrainResult ra = train(a, quiet());
  TrainResult rb = train(b, quiet());
  EXPECT_EQ(cq::testing::compare_tensors(d / "a/last.safetensors", d / "b/last.safetensors"), "");
  EXPECT_EQ(ra.log[0].train_loss, rb.log[0].train_loss);
  EXPECT_EQ(ra.log[0].val_loss, rb.log[0].val_loss);
  // Negative: another seed gives other weights (so the equality above is not vacuous).
  TrainConfig c = cq::testing::tiny_config(d.path(), d / "c", "cqg");
  c.seed = 4;
  train(c, quiet());
  EXPECT_NE(cq::testing::compare_tensors(d / "a/last.safetensors", d / "c/last.safetensors"), "");
  EXPECT_FALSE(has_tmp(d / "a"));
}

// 2 epochs straight == 1 epoch, then --resume to 2 epochs (bit-identical weights, optimizer and RNG state).
TEST(Trainer, ResumeIsBitIdentical) {
  cq::testing::TempDir d;
  cq::testing::make_synthetic_dataset(d.path());
  TrainConfig straight = cq::testing::tiny_config(d.path(), d / "straight", "cqg");
  straight.epochs = 2;
  TrainResult rs = train(straight, quiet());
  ASSERT_EQ(rs.log.size(), 2u);

  TrainConfig first = cq::testing::tiny_config(d.path(), d / "split", "cqg");
  train(first, quiet());
  const std::string after1 = d / "epoch1.safetensors";
  std::filesystem::copy_file(d / "split/last.safetensors", after1);
  TrainConfig cont = read_run_config(d / "split");
  EXPECT_EQ(cont.epochs, 1);
  EXPECT_EQ(cont.mode, "cqg");
  cont.epochs = 2;
  TrainResult rr = resume(cont, quiet());
  ASSERT_EQ(rr.log.size(), 2u);
  EXPECT_EQ(cq::testing::compare_tensors(d / "straight/last.safetensors", d / "split/last.safetensors"), "");
  EXPECT_EQ(rs.log[1].train_loss, rr.log[1].train_loss);
  EXPECT_EQ(rs.log[1].val_loss, rr.log[1].val_loss);
  EXPECT_EQ(rs.global_step, rr.global_step);
  // Training did move the weights in epoch 2.
  EXPECT_NE(cq::testing::compare_tensors(after1, d / "split/last.safetensors"), "");
  // The resumed run's log and manifest carry both epochs and the resume.
  EXPECT_EQ(parse_log_jsonl(read_text(d / "split/log.jsonl"), "log").size(), 2u);
  json::Value m = json::parse(read_text(d / "split/manifest.json"));
  ASSERT_EQ(m.find("resumes")->as_array().size(), 1u);
  EXPECT_EQ(m.find("resumes")->as_array()[0].find("at_epoch")->as_uint(), 1u);
  // Resuming a finished run trains nothing and leaves its files byte-identical (the manifest's hash identifies a run).
  const std::string manifest_before = read_text(d / "split/manifest.json");
  const std::string log_before = read_text(d / "split/log.jsonl");
  TrainResult again = resume(cont, quiet());
  EXPECT_EQ(again.log.size(), 2u);
  EXPECT_EQ(read_text(d / "split/manifest.json"), manifest_before);
  EXPECT_EQ(read_text(d / "split/log.jsonl"), log_before);
  EXPECT_EQ(cq::testing::compare_tensors(d / "straight/last.safetensors", d / "split/last.safetensors"), "");

  // A resume with a changed training option is refused, naming it; so is a fresh run into an existing RUN_DIR.
  TrainConfig changed = read_run_config(d / "split");
  changed.epochs = 3;
  changed.lr = 0.5;
  EXPECT_TRUE(contains(error_of([&] { resume(changed, quiet()); }), "'lr'"));
  EXPECT_TRUE(contains(error_of([&] { train(first, quiet()); }), "already holds a run"));
  EXPECT_TRUE(contains(error_of([&] { read_run_config(d / "nothing"); }), "not found"));
}

// A NaN loss in epoch 2 stops training with TrainingDiverged; last.safetensors stays the epoch-1 one.
TEST(Trainer, NanLossStopsAndKeepsLastGoodCheckpoint) {
  cq::testing::TempDir d;
  cq::testing::make_synthetic_dataset(d.path());
  TrainConfig c = cq::testing::tiny_config(d.path(), d / "run", "base");
  c.epochs = 3;
  TrainHooks h = quiet();
  h.on_loss = [](int64_t epoch, int64_t step, Tensor& loss) {
    if (epoch == 1 && step == 1) loss = add_scalar(loss, NAN);
  };
  std::string msg;
  try {
    train(c, h);
  } catch (const TrainingDiverged& e) {
    msg = e.what();
  }
  EXPECT_TRUE(contains(msg, "NaN")) << msg;
  EXPECT_TRUE(contains(msg, "epoch 2 step 2")) << msg;
  EXPECT_TRUE(contains(msg, "last good checkpoint")) << msg;
  Context ctx = cq::testing::make_ctx();
  LoadedCheckpoint ck = load_checkpoint(ctx, d / "run/last.safetensors");
  EXPECT_EQ(ck.state.epoch, 1);
  EXPECT_EQ(ck.state.global_step, 2);
  for (const auto& kv : ck.model) {
    if (kv.second.dtype() != DType::f32) continue;
    for (float v : kv.second.to_vector<float>()) {
      ASSERT_TRUE(std::isfinite(v)) << kv.first;
    }
  }
  EXPECT_FALSE(has_tmp(d / "run"));
  EXPECT_EQ(parse_log_jsonl(read_text(d / "run/log.jsonl"), "log").size(), 1u);
  // An infinite loss in the first epoch: no checkpoint exists, and the message says so.
  TrainConfig c2 = cq::testing::tiny_config(d.path(), d / "run2", "base");
  h.on_loss = [](int64_t, int64_t, Tensor& loss) { loss = add_scalar(loss, INFINITY); };
  const std::string m2 = error_of([&] { train(c2, h); });
  EXPECT_TRUE(contains(m2, "infinite")) << m2;
  EXPECT_TRUE(contains(m2, "no checkpoint")) << m2;
}

// Run files: checkpoint layout, log.jsonl, SVG, manifest (config, revision, build, threads, data and weight hashes).
TEST(Trainer, RunFilesAndInitWeights) {
  cq::testing::TempDir d;
  cq::testing::make_synthetic_dataset(d.path());
  TrainConfig c = cq::testing::tiny_config(d.path(), d / "run", "aug");
  c.max_steps = 1;
  train(c, quiet());
  EXPECT_EQ(cq::testing::list_dir(d / "run"),
            (std::vector<std::string>{"best.safetensors", "last.safetensors", "log.jsonl", "loss_curve.svg",
                                      "manifest.json"}));
  SafetensorsFile f = SafetensorsFile::open(d / "run/last.safetensors");
  EXPECT_TRUE(f.contains("model/segmentation_head.0.weight"));
  EXPECT_TRUE(f.contains("model/encoder._bn0.running_mean"));
  EXPECT_TRUE(f.contains("optim/exp_avg/segmentation_head.0.weight"));
  EXPECT_TRUE(f.contains("optim/hparam/lr"));
  EXPECT_TRUE(f.contains("rng/state"));
  EXPECT_EQ(f.metadata().at("format"), kCheckpointFormat);
  EXPECT_EQ(TrainConfig::from_json(json::parse(f.metadata().at("config"))).mode, "aug");

  const auto log = parse_log_jsonl(read_text(d / "run/log.jsonl"), "log");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].steps, 1);
  EXPECT_TRUE(std::isfinite(log[0].train_loss) && std::isfinite(log[0].val_loss));
  EXPECT_TRUE(log[0].val_dice >= 0 && log[0].val_dice <= 1);
  EXPECT_TRUE(std::isnan(log[0].train_dc1));  // not cqg
  EXPECT_TRUE(log[0].best);
  EXPECT_TRUE(contains(read_text(d / "run/loss_curve.svg"), "polyline class=\"validation\""));

  json::Value m = json::parse(read_text(d / "run/manifest.json"));
  EXPECT_EQ(m.find("config")->find("mode")->as_string(), "aug");
  const std::string rev = m.find("git_revision")->as_string();
  EXPECT_TRUE(rev == "unknown" || rev.size() == 40) << rev;
  // The binary's own revision when it was compiled in, whatever the working directory's checkout is.
  if (std::string(build_source_revision()) != "unknown") {
    EXPECT_EQ(rev, build_source_revision());
  }
  EXPECT_EQ(m.find("build")->find("source_revision")->as_string(), build_source_revision());
  EXPECT_FALSE(m.find("build")->find("compiler")->as_string().empty());
  EXPECT_EQ(m.find("threads")->as_uint(), 2u);
  const auto& files = m.find("data")->find("train")->find("files")->as_array();
  ASSERT_EQ(files.size(), 8u);  // 4 images + 4 masks
  EXPECT_EQ(files[0].find("file")->as_string(), "SYN/train/images/s0.png");
  EXPECT_EQ(files[0].find("sha256")->as_string(), data::sha256_file(d / "SYN/train/images/s0.png"));
  EXPECT_EQ(m.find("data")->find("val")->find("files")->as_array().size(), 4u);
  EXPECT_TRUE(m.find("init_weights")->is_null());

  // --init-weights with a cqseg checkpoint loads the whole model and is hashed into the manifest.
  TrainConfig c2 = cq::testing::tiny_config(d.path(), d / "run2", "base");
  c2.max_steps = 1;
  c2.init_weights = d / "run/best.safetensors";
  train(c2, quiet());
  json::Value m2 = json::parse(read_text(d / "run2/manifest.json"));
  EXPECT_EQ(m2.find("init_weights")->find("sha256")->as_string(), data::sha256_file(c2.init_weights));
  // An encoder-only state dict in smp/lukemelas names loads into the encoder.
  Context ctx = cq::testing::make_ctx();
  auto model = models::make_model(ctx, "unet_efficientnet_b2", 2);
  std::vector<std::pair<std::string, Tensor>> enc;
  for (const auto& kv : model->state_dict())
    if (kv.first.rfind("encoder.", 0) == 0) enc.emplace_back(kv.first.substr(8), kv.second);
  save_safetensors(d / "enc.safetensors", enc);
  auto other = models::make_model(ctx, "unet_efficientnet_b2", 2);
  EXPECT_TRUE(contains(load_init_weights(ctx, *other, d / "enc.safetensors"), "encoder"));
  EXPECT_EQ(other->state_dict()[0].second.to_vector<float>(), model->state_dict()[0].second.to_vector<float>());
  save_safetensors(d / "junk.safetensors", {{"foo", ctx.zeros({2})}});
  EXPECT_TRUE(contains(error_of([&] { load_init_weights(ctx, *other, d / "junk.safetensors"); }), "junk.safetensors"));
}

// The cqg transform fills Batch::images2 (a second view of the same geometry); base/aug leave it undefined; the
// views do not depend on the loader's worker count.
TEST(Trainer, CqgBatchesCarryTwoViews) {
  cq::testing::TempDir d;
  cq::testing::make_synthetic_dataset(d.path());
  Context ctx = cq::testing::make_ctx(1);
  auto batches = [&](const std::string& mode, int workers) {
    data::LoaderOptions o;
    o.out_h = o.out_w = 32;
    o.workers = workers;
    o.seed = 9;
    o.transform = make_train_transform(mode);
    data::Loader l(data::Dataset::open(d.path(), "SYN", "train"), ctx.runtime_ptr(), o);
    std::vector<data::Batch> out;
    l.start_epoch(0);
    data::Batch b;
    while (l.next(&b)) out.push_back(b);
    return out;
  };
  const auto cqg = batches("cqg", 0), cqg2 = batches("cqg", 2);
  ASSERT_EQ(cqg.size(), 2u);
  bool differs = false;
  for (size_t i = 0; i < cqg.size(); ++i) {
    ASSERT_TRUE(cqg[i].images2.defined());
    EXPECT_EQ(cqg[i].images2.shape(), cqg[i].images.shape());
    EXPECT_EQ(cqg[i].images2.to_vector<float>(), cqg2[i].images2.to_vector<float>());
    EXPECT_EQ(cqg[i].images.to_vector<float>(), cqg2[i].images.to_vector<float>());
    differs |= cqg[i].images2.to_vector<float>() != cqg[i].images.to_vector<float>();
  }
  EXPECT_TRUE(differs);  // photometric changes reach x2 only
  EXPECT_FALSE(batches("base", 0)[0].images2.defined());
  EXPECT_FALSE(batches("aug", 0)[0].images2.defined());
  // A transform that sets the second view for only some samples of a batch is an error, not a silent mix.
  data::LoaderOptions o;
  o.out_h = o.out_w = 32;
  o.workers = 0;
  o.shuffle = false;
  o.transform = [](data::Sample s, Rng&) {
    if (s.index == 0) s.image2 = s.image;
    return s;
  };
  data::Loader l(data::Dataset::open(d.path(), "SYN", "train"), ctx.runtime_ptr(), o);
  l.start_epoch(0);
  data::Batch b;
  EXPECT_TRUE(contains(error_of([&] { l.next(&b); }), "second view for 1 of 2"));
}

// --size native: no resize, batches padded to multiples of 32 (40x48 -> 64x64), the checkpoint records the images'
// own size, inference fits other sizes into it keeping the aspect, and a resume keeps the mode.
TEST(Trainer, NativeSizeTrainsPaddedAndPredictsAtTheImagesScale) {
  cq::testing::TempDir d;
  cq::testing::make_synthetic_dataset(d.path());  // 40x48 images
  TrainConfig c = cq::testing::tiny_config(d.path(), d / "n", "cqg");
  c.native_size = true, c.height = c.width = 0;
  c.validate();
  TrainConfig bad = c;
  bad.native_size = false;
  EXPECT_TRUE(contains(error_of([&] { bad.validate(); }), "multiples of 32"));
  TrainResult r = train(c, quiet());
  ASSERT_EQ(r.log.size(), 1u);
  EXPECT_TRUE(std::isfinite(r.log[0].val_loss));
  const TrainConfig stored = read_run_config(d / "n");
  EXPECT_TRUE(stored.native_size);
  EXPECT_EQ(stored.height, 40);
  EXPECT_EQ(stored.width, 48);
  EXPECT_EQ(TrainConfig::from_json(stored.to_json()).native_size, true);

  Context ctx({2, 0});
  SegModel m = load_seg_model(ctx, d / "n/best.safetensors");
  data::Image same(40, 48, 3, 90), tall(80, 48, 3, 90), wide(40, 96, 3, 90);
  Logits l = predict_logits(ctx, m, same);
  EXPECT_EQ(l.h, 40);
  EXPECT_EQ(l.w, 48);
  EXPECT_EQ(l.k, 2);
  l = predict_logits(ctx, m, tall);  // fits 80x48 into 40x48 keeping the aspect: 40x24
  EXPECT_EQ(l.h, 40);
  EXPECT_EQ(l.w, 24);
  l = predict_logits(ctx, m, wide);  // 40x96 -> 20x48
  EXPECT_EQ(l.h, 20);
  EXPECT_EQ(l.w, 48);
  EXPECT_EQ(m.input_height(), 64);
  EXPECT_EQ(m.input_width(), 64);
  // The padded network input: logits of the 40x48 image equal the forward of the black-padded 64x64 input, cropped.
  {
    auto ng = ctx.no_grad();
    const Tensor x = data::images_to_tensor(ctx, {data::pad_bottom_right(same, 64, 64)});
    const Tensor y = m.net->forward(x).slice(2, 0, 40).slice(3, 0, 48).contiguous();
    EXPECT_EQ(y.to_vector<float>(), predict_logits(ctx, m, same).v);
  }

  TrainConfig more = stored;
  more.epochs = 2;
  TrainResult r2 = resume(more, quiet());
  EXPECT_EQ(r2.log.size(), 2u);
}

// --precise-bn: the weights follow the same trajectory (the recalibration touches only running statistics and
// restores the generator), the running statistics differ, and recalibrating is idempotent (it forgets the previous
// statistics: the k-th batch enters with weight 1/k).
TEST(Trainer, PreciseBatchNormChangesOnlyRunningStatistics) {
  cq::testing::TempDir d;
  cq::testing::make_synthetic_dataset(d.path());
  TrainConfig a = cq::testing::tiny_config(d.path(), d / "plain", "cqg");
  a.epochs = 2;
  a.height = a.width = 64;
  TrainConfig b = a;
  b.out = d / "precise";
  b.precise_bn = true;
  train(a, quiet());
  train(b, quiet());
  EXPECT_TRUE(read_run_config(d / "precise").precise_bn);
  Context ctx({2, 0});
  LoadedCheckpoint pa = load_checkpoint(ctx, d / "plain/last.safetensors");
  LoadedCheckpoint pb = load_checkpoint(ctx, d / "precise/last.safetensors");
  int stats = 0, stats_differ = 0;
  for (const auto& kv : pa.model) {
    const bool stat = kv.first.find("running_") != std::string::npos;
    const bool same = kv.second.to_vector<double>() == pb.model.at(kv.first).to_vector<double>();
    if (stat) {
      ++stats;
      stats_differ += same ? 0 : 1;
    } else {
      EXPECT_TRUE(same) << kv.first << " (weights and counters must not change)";
    }
  }
  EXPECT_GT(stats_differ, stats / 2) << stats_differ << " of " << stats << " running statistics differ";

  // Idempotent: recalibrating the plain run's weights twice gives the same statistics.
  auto model = models::make_model(ctx, a.model, a.classes);
  model->load_state_dict(pa.model);
  data::LoaderOptions lo;
  lo.batch_size = 2, lo.out_h = 64, lo.out_w = 64, lo.workers = 0, lo.shuffle = false;
  data::DatasetOptions dopt;
  dopt.print_warnings = false;
  data::Loader loader(data::Dataset::open(d.path(), "SYN", "train", dopt), ctx.runtime_ptr(), lo);
  const Rng::State before = ctx.rng().state();
  EXPECT_EQ(recalibrate_batchnorm(ctx, *model, loader, 0.2), 2);
  EXPECT_EQ(ctx.rng().state().s, before.s);
  std::map<std::string, std::vector<double>> first;
  for (const auto& kv : model->named_buffers()) first[kv.first] = kv.second.to_vector<double>();
  recalibrate_batchnorm(ctx, *model, loader, 0.2);
  for (const auto& kv : model->named_buffers()) EXPECT_EQ(kv.second.to_vector<double>(), first[kv.first]) << kv.first;
  // The same statistics the trainer saved after its last validation (same weights, same images).
  for (const auto& kv : pb.model)
    if (kv.first.find("running_") != std::string::npos) {
      const std::vector<double> want = kv.second.to_vector<double>(), got = first.at(kv.first);
      ASSERT_EQ(want.size(), got.size());
      for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-6 * (1 + std::fabs(want[i]))) << kv.first;
    }
}
