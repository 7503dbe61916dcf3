// BatchNorm recalibration for the demo's short training runs (pipeline/demo.h, "precise BN").
//
// Why: the EfficientNet-B2 encoder's BatchNorm layers use momentum 0.01 (lukemelas' settings, as the paper's smp
// model), so their running averages need several hundred steps to forget the initial mean 0 / variance 1. The demo
// trains for tens of steps, after which the running statistics still describe the untrained network and every
// eval-mode prediction is poor (the trainer's validation Dice falls while the training loss drops). The paper's
// 15 epochs on thousands of images do not have this problem. So before evaluation the demo replaces the running
// statistics by the average batch statistics of the trained weights over the training images (unaugmented, at the
// training size), the standard "precise BN" fix; the weights themselves are unchanged.
//
// The layers' momentum is not reachable from outside nn/, so it is measured: with the running buffers set to 0
// one training-mode forward leaves m * s in them (s the batch statistic); set to 1 it leaves (1 - m) + m * s; the
// difference gives m, then every batch's s = buffer / m.
#include <cmath>
#include <map>

#include "data/loader.h"
#include "models/registry.h"
#include "nn/adam.h"
#include "pipeline/checkpoint.h"
#include "pipeline/demo.h"
#include "pipeline/progress.h"
#include "tensor/error.h"

namespace cq::pipeline {
namespace {

bool is_stat(const std::string& name) {
  auto ends = [&](const std::string& s) {
    return name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return ends(".running_mean") || ends(".running_var");
}

}  // namespace

void recalibrate_batchnorm(const std::string& in_ckpt, const std::string& out_ckpt, int threads, int batch,
                           std::FILE* progress) {
  Context ctx(ContextOptions{threads, 0, Device::cpu()});
  LoadedCheckpoint ck = load_checkpoint(ctx, in_ckpt);
  const TrainConfig cfg = TrainConfig::from_json(json::parse(ck.state.config_json));
  auto model = models::make_model(ctx, cfg.model, cfg.classes);
  model->load_state_dict(ck.model);
  model->set_drop_connect_rate(0);  // every block present: the statistics of the network evaluation runs
  model->train(true);

  std::map<std::string, Tensor> stats;
  for (const auto& kv : model->named_buffers())
    if (is_stat(kv.first)) stats.emplace(kv.first, kv.second);
  CQ_CHECK(!stats.empty(), in_ckpt, ": the model has no BatchNorm running statistics to recalibrate");
  auto set_all = [&](double v) {
    std::map<std::string, Tensor> sd;
    for (const auto& kv : stats) sd.emplace(kv.first, ctx.full(kv.second.shape(), v));
    model->load_state_dict(sd, false);
  };
  auto read_all = [&]() {
    std::map<std::string, std::vector<double>> out;
    for (const auto& kv : model->named_buffers())
      if (stats.count(kv.first)) out[kv.first] = kv.second.to_vector<double>();
    return out;
  };

  data::DatasetOptions dopt;
  dopt.classes = cfg.classes;
  dopt.print_warnings = progress != nullptr;
  data::LoaderOptions lo;
  lo.batch_size = batch, lo.out_h = cfg.height, lo.out_w = cfg.width, lo.workers = 1, lo.shuffle = false;
  data::Loader loader(data::Dataset::open(cfg.data_root, cfg.train_domain, cfg.train_split, dopt),
                      ctx.runtime_ptr(), lo);
  loader.start_epoch(0);
  NoGradGuard ng = ctx.no_grad();
  std::map<std::string, double> momentum;
  std::map<std::string, std::vector<double>> sum;
  int64_t n = 0;
  const int64_t total = int64_t(loader.batches_per_epoch());
  Progress bar(progress, "recalibrate BatchNorm " + cfg.mode, total);
  data::Batch b;
  while (loader.next(&b)) {
    if (b.indices.size() < 2) continue;  // a batch of one has no variance
    if (momentum.empty()) {  // measure each layer's momentum on the first batch
      set_all(1.0);
      model->forward(b.images);
      for (auto& kv : read_all()) {
        double s = 0;
        for (double v : kv.second) s += v;
        momentum[kv.first] = s / double(kv.second.size());  // mean of (1 - m) + m s, finished below
      }
    }
    set_all(0.0);
    model->forward(b.images);
    for (auto& kv : read_all()) {
      double& m = momentum[kv.first];
      if (n == 0) {
        double s = 0;
        for (double v : kv.second) s += v;
        m = 1 - (m - s / double(kv.second.size()));
        CQ_CHECK(m > -1e-6 && m <= 1 + 1e-6, in_ckpt, ": cannot measure the BatchNorm momentum of ", kv.first, " (",
                 m, ")");
      }
      if (m < 1e-4) continue;  // a layer the forward pass does not use (smp keeps the encoder's unused _bn1)
      std::vector<double>& acc = sum[kv.first];
      acc.resize(kv.second.size(), 0.0);
      for (size_t i = 0; i < acc.size(); ++i) acc[i] += kv.second[i] / m;
    }
    ++n;
    bar.update(int64_t(b.index) + 1, std::nan(""));
  }
  bar.finish();
  CQ_CHECK(n > 0, in_ckpt, ": no batch of at least two training images to recalibrate BatchNorm with");
  // Unused layers keep the checkpoint's values; the others get the average batch statistics.
  std::map<std::string, Tensor> sd;
  for (const auto& kv : stats)
    if (!sum.count(kv.first)) sd.emplace(kv.first, ck.model.at(kv.first));
  for (auto& kv : sum) {
    for (auto& v : kv.second) v /= double(n);
    sd.emplace(kv.first, ctx.from_vector(kv.second, stats.at(kv.first).shape()));
  }
  model->load_state_dict(sd, false);

  nn::Adam adam(model->named_parameters());
  adam.load_state_dict(ck.optim);
  Rng rng;
  rng.set_state(ck.rng);
  std::map<std::string, std::string> meta;
  for (const auto& kv : ck.metadata)
    if (kv.first != "format" && kv.first != "config" && kv.first != "epoch" && kv.first != "best_val_loss")
      meta.insert(kv);
  meta["batchnorm"] = "running statistics recalibrated over " + cfg.train_domain + "/" + cfg.train_split + " (" +
                      std::to_string(n) + " batches of " + std::to_string(batch) + ") by cqseg demo";
  save_checkpoint(out_ckpt, *model, adam, rng, ck.state, meta);
}

}  // namespace cq::pipeline
