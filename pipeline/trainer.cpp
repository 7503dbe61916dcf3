#include "pipeline/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <memory>

#include "data/augment.h"
#include "data/loader.h"
#include "dist/data_parallel.h"
#include "dist/nccl_reducer.h"
#include "dist/overlapped_reducer.h"
#include "losses/losses.h"
#include "models/registry.h"
#include "nn/adam.h"
#include "nn/layers.h"
#include "pipeline/checkpoint.h"
#include "pipeline/init_weights.h"
#include "pipeline/manifest.h"
#include "pipeline/metrics.h"
#include "pipeline/numerics.h"
#include "pipeline/precise_bn.h"
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
  std::unique_ptr<data::Loader> stats_loader;  // --precise-bn: the training images unaugmented, in file order
  CheckpointState st;
  std::vector<EpochRecord> log;
  dist::SingleProcess single;
  dist::Communicator& comm;
  std::unique_ptr<dist::GradientReducer> reducer;              // the sum after backward
  std::unique_ptr<dist::OverlappedGradientReducer> overlapped;  // or during it (hooks.overlap_grad_sum)
  std::unique_ptr<dist::NcclGradientReducer> nccl;              // GPU ranks: on the devices (dist/nccl_reducer.h)
  double sum_seconds = 0;  // time in the gradient sum this epoch (under MPI; includes waiting for slower ranks)

  bool parallel() const { return comm.size() > 1; }
  bool root() const { return comm.rank() == 0; }

  Session(const TrainConfig& c, const TrainHooks& h) : cfg(c), hooks(h), comm(h.comm ? *h.comm : single) {
    cfg.validate();
    CQ_CHECK(cfg.batch >= comm.size(), "train: the global batch (--batch ", cfg.batch, ") is smaller than the ",
             comm.size(), " ranks; every rank needs at least one sample per step");
    ContextOptions co;
    co.threads = cfg.threads;
    co.seed = cfg.seed;
    co.device = Device::parse(cfg.device);
    co.compute = cfg.compute_options();
    ctx = std::make_unique<Context>(co);
    model = models::make_model(*ctx, cfg.model, cfg.classes);
    model->set_drop_connect_rate(cfg.drop_connect);
    if (cfg.bn == "sync") {
      // In one process the sums are the identity (the same statistics as "batch", by the sync op's arithmetic).
      model->apply([this](nn::Module& m) {
        if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(&m))
          bn->group_sum = [this](double* p, int64_t n) { comm.sum_doubles(p, n); };
      });
    }
    data::DatasetOptions dopt;
    dopt.classes = cfg.classes;
    dopt.skip_bad = cfg.skip_bad;
    dopt.print_warnings = hooks.progress != nullptr;
    dopt.use_fov = false;  // training uses every pixel; fov would also need the geometric transform
    data::LoaderOptions lo;
    lo.batch_size = cfg.batch;
    lo.out_h = cfg.native_size ? 0 : cfg.height, lo.out_w = cfg.native_size ? 0 : cfg.width;
    lo.pad_multiple = cfg.native_size ? int(model->size_multiple()) : 0;
    lo.workers = cfg.workers;
    lo.seed = cfg.seed;
    lo.shuffle = true;
    lo.transform = make_train_transform(cfg.mode);
    lo.shard = comm.rank(), lo.shards = comm.size();
    train_loader = std::make_unique<data::Loader>(
        data::Dataset::open(cfg.data_root, cfg.train_domain, cfg.train_split, dopt), ctx->runtime_ptr(), lo);
    if (cfg.native_size && cfg.height == 0) {
      // The size inference fits new images into (dcin_model.h): the first training image's, as the checkpoint records.
      const data::ImageInfo info = data::probe_image(train_loader->dataset().files(0).image);
      cfg.height = info.h, cfg.width = info.w;
    }
    if (cfg.bn == "sync" && parallel()) {
      const int64_t last = int64_t(train_loader->dataset().size()) % cfg.batch;
      const bool reached = cfg.max_steps == 0 || cfg.max_steps >= int64_t(train_loader->batches_per_epoch());
      CQ_CHECK(!(reached && last != 0 && last < comm.size()), "train --bn sync: the last batch of each epoch holds ",
               last, " samples (", train_loader->dataset().size(), " % --batch ", cfg.batch, "), fewer than the ",
               comm.size(), " ranks, and synchronised BatchNorm needs every rank in every step; change --batch or the "
               "rank count");
    }
    dopt.use_fov = true;  // Dice inside the field of view when the split has one
    data::LoaderOptions vo = lo;
    vo.shard = 0, vo.shards = 1;  // validation runs whole on rank 0
    vo.shuffle = false;
    vo.transform = {};
    val_loader = std::make_unique<data::Loader>(
        data::Dataset::open(cfg.data_root, cfg.train_domain, cfg.val_split, dopt), ctx->runtime_ptr(), vo);
    if (cfg.precise_bn && root()) {
      data::LoaderOptions so = vo;
      so.workers = 1;
      stats_loader = std::make_unique<data::Loader>(train_loader->dataset(), ctx->runtime_ptr(), so);
    }
  }

  void make_adam() {
    nn::AdamOptions ao;
    ao.lr = cfg.lr;
    adam = std::make_unique<nn::Adam>(model->named_parameters(), ao);
    if (parallel()) {
      // Replicas start from rank 0's state (they are equal anyway: same seed, same checkpoint file).
      dist::broadcast_module(comm, *model);
      reducer = std::make_unique<dist::GradientReducer>(model->parameters());
      // Synchronised BatchNorm communicates inside backward itself, so its runs sum after backward.
      bool f32 = true;
      for (const Tensor& p : model->parameters()) f32 = f32 && p.dtype() == DType::f32;
      if (ctx->device().is_cuda() && dist::built_with_nccl() && f32)
        nccl = std::make_unique<dist::NcclGradientReducer>(comm, model->parameters(), cfg.deterministic);
      else if (hooks.overlap_grad_sum && cfg.bn != "sync" && comm.allows_helper_thread() && f32 &&
               !ctx->device().is_cuda())
        overlapped = std::make_unique<dist::OverlappedGradientReducer>(comm, model->parameters());
    }
  }

  void set_train_mode() {
    if (cfg.bn == "frozen") model->eval();
    else model->train();
  }

  int64_t steps_per_epoch() const {
    const int64_t n = int64_t(train_loader->batches_per_epoch());
    return cfg.max_steps > 0 ? std::min<int64_t>(n, cfg.max_steps) : n;
  }

  void announce() const {
    if (!parallel() || !hooks.progress || !root()) return;
    std::fprintf(hooks.progress,
                 "data parallel: %s, global batch %d (%d..%d per rank), BatchNorm %s, %.2f MB of gradients summed "
                 "per step %s\n",
                 comm.describe().c_str(), cfg.batch, cfg.batch / comm.size(),
                 (cfg.batch + comm.size() - 1) / comm.size(),
                 cfg.bn == "frozen" ? "frozen (eval mode)"
                 : cfg.bn == "sync" ? "synchronised over the ranks"
                                    : "per-rank batch statistics",
                 double(reducer->gradient_bytes()) / 1e6,
                 nccl         ? ("after backward on the GPUs (" + nccl->describe() + ")").c_str()
                 : overlapped ? ("during backward (" + std::to_string(overlapped->buckets()) + " buckets)").c_str()
                              : "after backward");
    std::fflush(hooks.progress);
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
    set_train_mode();
    const bool cqg = cfg.mode == "cqg";
    const losses::CqgWeights w{cfg.l1, cfg.l2, cfg.l3};
    const int64_t n = steps_per_epoch();
    Progress bar(hooks.progress, "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(cfg.epochs) + " train",
                 n, hooks.progress_tty);
    double sum = 0, s1 = 0, s2 = 0, s3 = 0;
    const auto t0 = std::chrono::steady_clock::now();
    sum_seconds = 0;
    train_loader->start_epoch(epoch);
    data::Batch b;
    for (int64_t step = 0; step < n; ++step) {
      CQ_CHECK(train_loader->next(&b), "train: loader ended early at step ", step, " of epoch ", epoch + 1);
      adam->zero_grad();
      // This rank's share of the global batch (1 in a single process; 0 for an empty shard of a short batch).
      const double share = b.global_size > 0 ? double(b.indices.size()) / double(b.global_size) : 1.0;
      if (b.indices.empty()) {
        step_end(epoch, step, Tensor(), share, 0, 0, 0, 0, cqg, sum, s1, s2, s3, bar);
        continue;
      }
      if (hooks.check_numerics)
        check_finite({{"images", b.images}, {"images2", b.images2}}, "input batch", epoch, step);
      const Tensor y = b.masks.to(ctx->device());
      Tensor loss;
      double d1 = 0, d2 = 0, d3 = 0;
      if (cqg) {
        CQ_CHECK(b.images2.defined(), "train: cqg batch without a second view");
        // Two forward passes, x1 first, as the authors' training step (BatchNorm statistics update twice).
        const Tensor l1 = model->forward(b.images.to(ctx->device()));
        const Tensor l2 = model->forward(b.images2.to(ctx->device()));
        losses::CqgTerms t = losses::cqg_loss(y, l1, l2, w);
        loss = t.total;
        d1 = t.dc1.item(), d2 = t.dc2.item(), d3 = t.mse.item();
      } else {
        loss = losses::dc_loss(model->forward(b.images.to(ctx->device())), y);
      }
      if (hooks.on_loss) hooks.on_loss(epoch, step, loss);
      step_end(epoch, step, loss, share, loss.item(), d1, d2, d3, cqg, sum, s1, s2, s3, bar);
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

  // The rest of a training step: (under MPI) the global loss as the share-weighted sum of the ranks' losses, the
  // divergence check on it (so every rank stops together), backward, gradient sum, optimiser step.
  void step_end(int64_t epoch, int64_t step, const Tensor& loss, double share, double lv, double d1, double d2,
                double d3, bool cqg, double& sum, double& s1, double& s2, double& s3, Progress& bar) {
    if (parallel()) {
      double v[4] = {lv * share, d1 * share, d2 * share, d3 * share};
      comm.sum_doubles(v, 4);
      lv = v[0], d1 = v[1], d2 = v[2], d3 = v[3];
    }
    if (!std::isfinite(lv))
      diverged("training loss is " + std::string(std::isnan(lv) ? "NaN" : "infinite") + " at epoch " +
               std::to_string(epoch + 1) + " step " + std::to_string(step + 1) +
               (hooks.check_numerics ? " (inputs and weights were finite: the forward pass or loss produced it)"
                                     : ""));
    // Synchronised BatchNorm couples the ranks inside backward, so there the share weights the loss itself (every
    // rank's BatchNorm gradient sums then combine the global loss's terms); otherwise the gradients are weighted.
    const bool sync = cfg.bn == "sync" && parallel();
    if (overlapped) {
      // The buckets are summed while backward runs; the time counted is what remains after it.
      overlapped->begin(share);
      if (loss.defined()) loss.backward();
      overlapped->finish();
      sum_seconds += overlapped->last_wait_seconds();
    } else {
      if (loss.defined()) loss.backward(sync ? loss.new_scalar(share) : Tensor());
      if (parallel()) {
        const auto t0 = std::chrono::steady_clock::now();
        if (nccl) nccl->reduce(sync ? 1.0 : share);
        else reducer->reduce(comm, sync ? 1.0 : share);
        sum_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      }
    }
    if (hooks.check_numerics) {
      nn::NamedTensors grads;
      for (const auto& kv : model->named_parameters()) grads.emplace_back(kv.first, kv.second.grad());
      check_finite(grads, "gradient of parameter", epoch, step);
    }
    adam->step();
    if (hooks.check_numerics) check_finite(model->named_parameters(), "parameter (after the Adam step)", epoch, step);
    sum += lv;
    if (cqg) s1 += d1, s2 += d2, s3 += d3;
    st.global_step++;
    bar.update(step + 1, lv);
  }

  // Under MPI: BatchNorm statistics averaged over the replicas, rank 0 validates, every rank gets its numbers.
  void validate_all(EpochRecord& r) {
    if (parallel()) dist::average_buffers(comm, *model);
    if (cfg.precise_bn) {
      if (root()) recalibrate_batchnorm(*ctx, *model, *stats_loader, cfg.drop_connect);
      if (parallel()) dist::broadcast_module(comm, *model);  // every replica keeps rank 0's statistics
    }
    if (root()) validate(r);
    if (parallel()) {
      double v[3] = {r.val_loss, r.val_dice, r.val_dice_mean};
      comm.broadcast(v, sizeof v, 0);
      r.val_loss = v[0], r.val_dice = v[1], r.val_dice_mean = v[2];
    }
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
    set_train_mode();
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
      validate_all(r);
      r.seconds = train_s + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!std::isfinite(r.val_loss))
        diverged("validation loss is not finite after epoch " + std::to_string(epoch + 1));
      st.epoch = epoch + 1;
      r.best = st.best_epoch == 0 || r.val_loss < st.best_val_loss;
      if (r.best) st.best_epoch = st.epoch, st.best_val_loss = r.val_loss;
      st.config_json = json::dump(cfg.to_json());
      // last.safetensors is written last: it is the commit point of an epoch. A kill before it leaves last at the
      // previous epoch, and --resume drops the log lines after that epoch and retrains it (bit-identically),
      // rewriting best and the log consistently. Under MPI only rank 0 writes.
      log.push_back(r);
      if (root()) {
        if (r.best) save(ckpt("best.safetensors"));
        write_log_files();
        save(ckpt("last.safetensors"));
      }
      if (hooks.progress && root()) {
        std::fprintf(hooks.progress,
                     "epoch %d/%d: train loss %.4f", r.epoch, cfg.epochs, r.train_loss);
        if (cfg.mode == "cqg")
          std::fprintf(hooks.progress, " (dc1 %.4f dc2 %.4f mse %.4f)", r.train_dc1, r.train_dc2, r.train_mse);
        std::fprintf(hooks.progress, ", val loss %.4f, val Dice %.4f, %.1f s, %.2f step/s%s", r.val_loss,
                     r.val_dice, r.seconds, r.steps_per_s, r.best ? ", best" : "");
        if (parallel())
          std::fprintf(hooks.progress, ", gradient sum %.0f ms/step (rank 0, with waiting)",
                       1e3 * sum_seconds / std::max(1, r.steps));
        std::fputc('\n', hooks.progress);
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
  if (s.root()) write_manifest(s.cfg, *s.train_loader, *s.val_loader, s.ctx->threads());
  s.announce();
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
  s.make_adam();  // after the load: broadcasts the loaded state under MPI
  s.adam->load_state_dict(c.optim);
  s.ctx->rng().set_state(c.rng);
  s.st = c.state;
  if (file_exists(cfg.out + "/log.jsonl")) {
    // Epochs logged after the checkpoint (a crash between writes) are dropped: they will be trained again.
    for (const EpochRecord& r : parse_log_jsonl(read_text(cfg.out + "/log.jsonl"), cfg.out + "/log.jsonl"))
      if (r.epoch <= s.st.epoch) s.log.push_back(r);
  }
  // A run already at (or past) the requested epochs trains nothing, so its files stay byte-identical: recording such a
  // resume would change manifest.json's hash, which results documents use to identify a run.
  if (s.st.epoch >= cfg.epochs) {
    if (hooks.progress && s.root())
      std::fprintf(hooks.progress, "%s already trained %lld epochs (--epochs %d): nothing to do\n", cfg.out.c_str(),
                   (long long)s.st.epoch, cfg.epochs);
    return s.run();
  }
  if (s.root()) note_resume(cfg, s.st.epoch, s.ctx->threads());
  s.announce();
  if (hooks.progress && s.root())
    std::fprintf(hooks.progress, "resuming %s at epoch %lld of %d\n", cfg.out.c_str(), (long long)s.st.epoch + 1,
                 cfg.epochs);
  return s.run();
}

}  // namespace cq::pipeline
