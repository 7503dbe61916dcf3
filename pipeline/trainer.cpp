#include "pipeline/trainer.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <memory>

#include "data/augment.h"
#include "data/loader.h"
#include "losses/losses.h"
#include "models/registry.h"
#include "nn/adam.h"
#include "pipeline/checkpoint.h"
#include "pipeline/init_weights.h"
#include "pipeline/manifest.h"
#include "pipeline/metrics.h"
#include "pipeline/numerics.h"
#include "pipeline/progress.h"
#include "tensor/context.h"

namespace cq::pipeline {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

data::U8Image to_u8(data::Image&& im) {
  data::U8Image u;
  u.h = im.h, u.w = im.w, u.c = im.c, u.px = std::move(im.px);
  return u;
}
data::Image to_image(data::U8Image&& u) {
  data::Image im;
  im.h = u.h, im.w = u.w, im.c = u.c, im.px = std::move(u.px);
  return im;
}

}  // namespace

data::Transform make_train_transform(const std::string& mode) {
  if (mode == "base") return {};
  const data::AugMode m = data::aug_mode_from_string(mode);
  return [m](data::Sample s, Rng& rng) {
    data::Views v = data::make_views(to_u8(std::move(s.image)), to_u8(std::move(s.mask)), m, rng);
    s.image = to_image(std::move(v.x1));
    s.mask = to_image(std::move(v.mask));
    if (m == data::AugMode::cqg) s.image2 = to_image(std::move(v.x2));
    return s;
  };
}

namespace {

struct Session {
  TrainConfig cfg;
  const TrainHooks& hooks;
  std::unique_ptr<Context> ctx;
  std::shared_ptr<models::SegmentationModel> model;
  std::unique_ptr<nn::Adam> adam;
  std::unique_ptr<data::Loader> train_loader, val_loader;
  CheckpointState st;
  std::vector<EpochRecord> log;

  Session(const TrainConfig& c, const TrainHooks& h) : cfg(c), hooks(h) {
    cfg.validate();
    ContextOptions co;
    co.threads = cfg.threads;
    co.seed = cfg.seed;
    co.device = Device::parse(cfg.device);
    co.compute = cfg.compute_options();
    ctx = std::make_unique<Context>(co);
    model = models::make_model(*ctx, cfg.model, cfg.classes);
    data::DatasetOptions dopt;
    dopt.classes = cfg.classes;
    dopt.skip_bad = cfg.skip_bad;
    dopt.print_warnings = hooks.progress != nullptr;
    dopt.use_fov = false;  // training uses every pixel; fov would also need the geometric transform
    data::LoaderOptions lo;
    lo.batch_size = cfg.batch;
    lo.out_h = cfg.height, lo.out_w = cfg.width;
    lo.workers = cfg.workers;
    lo.seed = cfg.seed;
    lo.shuffle = true;
    lo.transform = make_train_transform(cfg.mode);
    train_loader = std::make_unique<data::Loader>(
        data::Dataset::open(cfg.data_root, cfg.train_domain, cfg.train_split, dopt), ctx->runtime_ptr(), lo);
    dopt.use_fov = true;  // Dice inside the field of view when the split has one
    data::LoaderOptions vo = lo;
    vo.shuffle = false;
    vo.transform = {};
    val_loader = std::make_unique<data::Loader>(
        data::Dataset::open(cfg.data_root, cfg.train_domain, cfg.val_split, dopt), ctx->runtime_ptr(), vo);
  }

  void make_adam() {
    nn::AdamOptions ao;
    ao.lr = cfg.lr;
    adam = std::make_unique<nn::Adam>(model->named_parameters(), ao);
  }

  int64_t steps_per_epoch() const {
    const int64_t n = int64_t(train_loader->batches_per_epoch());
    return cfg.max_steps > 0 ? std::min<int64_t>(n, cfg.max_steps) : n;
  }

  std::string ckpt(const char* name) const { return cfg.out + "/" + name; }

  [[noreturn]] void diverged(const std::string& what) const {
    std::string kept = st.epoch > 0 ? "the last good checkpoint " + ckpt("last.safetensors") + " (epoch " +
                                          std::to_string(st.epoch) + ") is kept"
                                    : "no epoch finished, so no checkpoint was written";
    throw TrainingDiverged("train: " + what + " (mode " + cfg.mode + ", lr " + std::to_string(cfg.lr) +
                           "); training stopped; " + kept + "; try a lower --lr");
  }

  // --check-numerics (TrainHooks::check_numerics): stops naming the first non-finite tensor of `what`.
  void check_finite(const nn::NamedTensors& ts, const std::string& what, int64_t epoch, int64_t step) const {
    const std::string bad = describe_nonfinite(ts, what);
    if (!bad.empty())
      diverged(bad + " at epoch " + std::to_string(epoch + 1) + " step " + std::to_string(step + 1) +
               " (--check-numerics)");
  }

  EpochRecord train_epoch(int64_t epoch) {
    EpochRecord r;
    r.epoch = int(epoch + 1);
    model->train();
    const bool cqg = cfg.mode == "cqg";
    const losses::CqgWeights w{cfg.l1, cfg.l2, cfg.l3};
    const int64_t n = steps_per_epoch();
    Progress bar(hooks.progress, "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(cfg.epochs) + " train",
                 n, hooks.progress_tty);
    double sum = 0, s1 = 0, s2 = 0, s3 = 0;
    const auto t0 = std::chrono::steady_clock::now();
    train_loader->start_epoch(epoch);
    data::Batch b;
    for (int64_t step = 0; step < n; ++step) {
      CQ_CHECK(train_loader->next(&b), "train: loader ended early at step ", step, " of epoch ", epoch + 1);
      adam->zero_grad();
      if (hooks.check_numerics)
        check_finite({{"images", b.images}, {"images2", b.images2}}, "input batch", epoch, step);
      const Tensor y = b.masks.to(ctx->device());
      Tensor loss;
      if (cqg) {
        CQ_CHECK(b.images2.defined(), "train: cqg batch without a second view");
        // Two forward passes, x1 first, as the authors' training step (BatchNorm statistics update twice).
        const Tensor l1 = model->forward(b.images.to(ctx->device()));
        const Tensor l2 = model->forward(b.images2.to(ctx->device()));
        losses::CqgTerms t = losses::cqg_loss(y, l1, l2, w);
        loss = t.total;
        s1 += t.dc1.item(), s2 += t.dc2.item(), s3 += t.mse.item();
      } else {
        loss = losses::dc_loss(model->forward(b.images.to(ctx->device())), y);
      }
      if (hooks.on_loss) hooks.on_loss(epoch, step, loss);
      const double lv = loss.item();
      if (!std::isfinite(lv))
        diverged("training loss is " + std::string(std::isnan(lv) ? "NaN" : "infinite") + " at epoch " +
                 std::to_string(epoch + 1) + " step " + std::to_string(step + 1) +
                 (hooks.check_numerics ? " (inputs and weights were finite: the forward pass or loss produced it)"
                                       : ""));
      loss.backward();
      if (hooks.check_numerics) {
        nn::NamedTensors grads;
        for (const auto& kv : model->named_parameters()) grads.emplace_back(kv.first, kv.second.grad());
        check_finite(grads, "gradient of parameter", epoch, step);
      }
      adam->step();
      if (hooks.check_numerics) check_finite(model->named_parameters(), "parameter (after the Adam step)", epoch, step);
      sum += lv;
      st.global_step++;
      bar.update(step + 1, lv);
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.steps = int(n);
    r.steps_per_s = r.seconds > 0 ? n / r.seconds : 0;
    r.train_loss = sum / n;
    r.train_dc1 = cqg ? s1 / n : kNaN;
    r.train_dc2 = cqg ? s2 / n : kNaN;
    r.train_mse = cqg ? s3 / n : kNaN;
    bar.finish();
    return r;
  }

  void validate(EpochRecord& r) {
    model->eval();
    auto ng = ctx->no_grad();
    DiceCounter dice(cfg.classes);
    int64_t n = int64_t(val_loader->batches_per_epoch());
    if (cfg.max_val_batches > 0) n = std::min<int64_t>(n, cfg.max_val_batches);
    Progress bar(hooks.progress, "epoch " + std::to_string(r.epoch) + "/" + std::to_string(cfg.epochs) + " val", n,
                 hooks.progress_tty);
    double sum = 0;
    int64_t count = 0;
    val_loader->start_epoch(0);
    data::Batch b;
    for (int64_t i = 0; i < n && val_loader->next(&b); ++i) {
      const Tensor y = b.masks.to(ctx->device());
      const Tensor logits = model->forward(b.images.to(ctx->device()));
      // Weighted by batch size so the value is the per-sample mean whatever the last batch's size.
      const double lv = losses::dc_loss(logits, y).item();
      sum += lv * double(y.size(0));
      count += y.size(0);
      dice.add(logits, b.masks, b.fov.defined() ? b.fov : Tensor());
      bar.update(i + 1, lv);
    }
    r.val_loss = sum / double(count);
    r.val_dice = dice.foreground_dice();
    r.val_dice_mean = dice.mean_dice();
    bar.finish();
    model->train();
  }

  void save(const std::string& path) const {
    // Always, whatever --check-numerics: a checkpoint holding a NaN would poison every resume and evaluation.
    std::string bad = describe_nonfinite(model->state_dict(), "model tensor");
    if (bad.empty()) bad = describe_nonfinite(adam->state_dict(), "optimizer state");
    if (!bad.empty()) diverged(bad + " before writing " + path + " (checkpoint not written)");
    save_checkpoint(path, *model, *adam, ctx->rng(), st, {{"model", cfg.model}, {"mode", cfg.mode}});
  }

  void write_log_files() const {
    write_text_atomic(cfg.out + "/log.jsonl", log_jsonl(log));
    write_text_atomic(cfg.out + "/loss_curve.svg",
                      loss_curve_svg(log, "cqseg train " + cfg.mode + " on " + cfg.train_domain + "/" +
                                              cfg.train_split + " (validation " + cfg.val_split + ")"));
  }

  TrainResult run() {
    if (hooks.check_numerics) {  // weights as initialised, loaded or resumed
      const std::string bad = describe_nonfinite(model->named_parameters(), "parameter (before training)");
      if (!bad.empty()) diverged(bad + " (--check-numerics)");
    }
    for (int64_t epoch = st.epoch; epoch < cfg.epochs; ++epoch) {
      EpochRecord r = train_epoch(epoch);
      const double train_s = r.seconds;
      const auto t0 = std::chrono::steady_clock::now();
      validate(r);
      r.seconds = train_s + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!std::isfinite(r.val_loss))
        diverged("validation loss is not finite after epoch " + std::to_string(epoch + 1));
      st.epoch = epoch + 1;
      r.best = st.best_epoch == 0 || r.val_loss < st.best_val_loss;
      if (r.best) st.best_epoch = st.epoch, st.best_val_loss = r.val_loss;
      st.config_json = json::dump(cfg.to_json());
      // last.safetensors is written last: it is the commit point of an epoch. A kill before it leaves last at the
      // previous epoch, and --resume drops the log lines after that epoch and retrains it (bit-identically),
      // rewriting best and the log consistently.
      if (r.best) save(ckpt("best.safetensors"));
      log.push_back(r);
      write_log_files();
      save(ckpt("last.safetensors"));
      if (hooks.progress) {
        std::fprintf(hooks.progress,
                     "epoch %d/%d: train loss %.4f", r.epoch, cfg.epochs, r.train_loss);
        if (cfg.mode == "cqg")
          std::fprintf(hooks.progress, " (dc1 %.4f dc2 %.4f mse %.4f)", r.train_dc1, r.train_dc2, r.train_mse);
        std::fprintf(hooks.progress, ", val loss %.4f, val Dice %.4f, %.1f s, %.2f step/s%s\n", r.val_loss,
                     r.val_dice, r.seconds, r.steps_per_s, r.best ? ", best" : "");
        std::fflush(hooks.progress);
      }
    }
    TrainResult res;
    res.log = log;
    res.best_epoch = st.best_epoch;
    res.best_val_loss = st.best_val_loss;
    res.global_step = st.global_step;
    return res;
  }
};

void check_same(const TrainConfig& a, const TrainConfig& b, const std::string& path) {
  auto ja = a.to_json(), jb = b.to_json();
  // Fields a resume may change: the target epoch count, compute threads and device, loader workers, where the data
  // now lives.
  for (const char* k : {"epochs", "threads", "workers", "device", "precision", "deterministic", "data_root", "out"}) {
    ja.set(k, json::Value());
    jb.set(k, json::Value());
  }
  for (const auto& kv : ja.as_object()) {
    const json::Value* o = jb.find(kv.first);
    CQ_CHECK(o && json::dump(*o) == json::dump(kv.second), "train --resume: option '", kv.first, "' is ",
             o ? json::dump(*o) : "absent", " but the checkpoint ", path, " was trained with ", json::dump(kv.second));
  }
}

}  // namespace

TrainConfig read_run_config(const std::string& run_dir) {
  const std::string path = run_dir + "/last.safetensors";
  CQ_CHECK(file_exists(path), "train --resume: ", path, " not found (not a run directory, or no epoch finished)");
  Context ctx({1, 0});
  LoadedCheckpoint c = load_checkpoint(ctx, path);
  TrainConfig cfg = TrainConfig::from_json(json::parse(c.state.config_json));
  cfg.out = run_dir;
  return cfg;
}

TrainResult train(const TrainConfig& cfg, const TrainHooks& hooks) {
  cfg.validate();
  make_dirs(cfg.out);
  CQ_CHECK(!file_exists(cfg.out + "/last.safetensors"), "train: ", cfg.out,
           " already holds a run (last.safetensors); use --resume ", cfg.out, " or another --out");
  check_writable_dir(cfg.out);  // before datasets are read and the model is built
  Session s(cfg, hooks);
  if (!cfg.init_weights.empty()) load_init_weights(*s.ctx, *s.model, cfg.init_weights);
  s.make_adam();
  write_manifest(cfg, *s.train_loader, *s.val_loader, s.ctx->threads());
  return s.run();
}

TrainResult resume(const TrainConfig& cfg, const TrainHooks& hooks) {
  cfg.validate();
  const std::string path = cfg.out + "/last.safetensors";
  CQ_CHECK(file_exists(path), "train --resume: ", path, " not found (not a run directory, or no epoch finished)");
  check_writable_dir(cfg.out);
  Session s(cfg, hooks);
  LoadedCheckpoint c = load_checkpoint(*s.ctx, path);
  check_same(TrainConfig::from_json(json::parse(c.state.config_json)), cfg, path);
  s.model->load_state_dict(c.model, true);
  s.make_adam();
  s.adam->load_state_dict(c.optim);
  s.ctx->rng().set_state(c.rng);
  s.st = c.state;
  if (file_exists(cfg.out + "/log.jsonl")) {
    // Epochs logged after the checkpoint (a crash between writes) are dropped: they will be trained again.
    for (const EpochRecord& r : parse_log_jsonl(read_text(cfg.out + "/log.jsonl"), cfg.out + "/log.jsonl"))
      if (r.epoch <= s.st.epoch) s.log.push_back(r);
  }
  note_resume(cfg, s.st.epoch, s.ctx->threads());
  if (hooks.progress)
    std::fprintf(hooks.progress, "resuming %s at epoch %lld of %d\n", cfg.out.c_str(), (long long)s.st.epoch + 1,
                 cfg.epochs);
  return s.run();
}

}  // namespace cq::pipeline
