// BatchNorm recalibration for the demo's short training runs (pipeline/demo.h, "precise BN", pipeline/precise_bn.h).
//
// Why: the EfficientNet-B2 encoder's BatchNorm layers use momentum 0.01 (lukemelas' settings, as the paper's smp
// model), so their running averages need several hundred steps to forget the initial mean 0 / variance 1. The demo
// trains for tens of steps, after which the running statistics still describe the untrained network and every
// eval-mode prediction is poor (the trainer's validation Dice falls while the training loss drops). So before
// evaluation the demo writes a copy of the last checkpoint whose running statistics are the average batch statistics
// of the trained weights over the training images (unaugmented, at the training size); the weights are unchanged.
#include <cmath>
#include <map>

#include "data/loader.h"
#include "models/registry.h"
#include "nn/adam.h"
#include "pipeline/checkpoint.h"
#include "pipeline/demo.h"
#include "pipeline/precise_bn.h"
#include "tensor/error.h"

namespace cq::pipeline {

void recalibrate_batchnorm(const std::string& in_ckpt, const std::string& out_ckpt, int threads, int batch,
                           std::FILE* progress) {
  Context ctx(ContextOptions{threads, 0, Device::cpu()});
  LoadedCheckpoint ck = load_checkpoint(ctx, in_ckpt);
  const TrainConfig cfg = TrainConfig::from_json(json::parse(ck.state.config_json));
  auto model = models::make_model(ctx, cfg.model, cfg.classes);
  model->load_state_dict(ck.model);
  data::DatasetOptions dopt;
  dopt.classes = cfg.classes;
  dopt.print_warnings = progress != nullptr;
  data::LoaderOptions lo;
  lo.batch_size = batch, lo.workers = 1, lo.shuffle = false;
  lo.out_h = cfg.native_size ? 0 : cfg.height, lo.out_w = cfg.native_size ? 0 : cfg.width;
  lo.pad_multiple = cfg.native_size ? int(model->size_multiple()) : 0;
  data::Loader loader(data::Dataset::open(cfg.data_root, cfg.train_domain, cfg.train_split, dopt),
                      ctx.runtime_ptr(), lo);
  int64_t n = 0;
  try {
    n = recalibrate_batchnorm(ctx, *model, loader, cfg.drop_connect);
  } catch (const Error& e) {
    fail(in_ckpt, ": ", e.what());
  }
  if (progress) std::fprintf(progress, "recalibrated BatchNorm of %s over %lld batches\n", cfg.mode.c_str(), (long long)n);

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
