// `cqseg train`: trains a segmentation model (U-Net EfficientNet-B2) on <root>/<domain>/<train split> in one of the
// paper's three modes and validates on <root>/<domain>/<val split> after every epoch.
//   base: resize + ImageNet normalisation only;
//   aug:  the spec's geometric + photometric augmentations on one view, DC loss;
//   cqg:  x1 = geometric, x2 = the same geometric draw + photometric; two forward passes per step (BatchNorm
//         statistics update twice, x1 first), loss = l1*DC(y,S(x1)) + l2*DC(y,S(x2)) + l3*MSE(S(x1),S(x2)).
// Adam (lr, betas 0.9/0.999, eps 1e-8), no schedule. After each epoch: validation loss (DC, eval mode, no
// augmentation) and foreground Dice (TP/FP/FN summed over the split, inside the field of view when the split has
// fov/), then RUN_DIR/last.safetensors and, when the validation loss is the lowest so far, best.safetensors (both
// atomic, see pipeline/checkpoint.h), log.jsonl, loss_curve.svg. manifest.json is written at the start.
//
// Determinism: every random draw comes from the seed (model init and drop-connect: the context generator, saved in
// checkpoints; data order and augmentations: pure functions of seed, epoch and sample index), so the same seed and
// thread count give bit-identical checkpoints, and resuming from last.safetensors continues exactly.
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "data/loader.h"
#include "dist/communicator.h"
#include "pipeline/run_files.h"
#include "pipeline/train_config.h"
#include "tensor/tensor.h"

namespace cq::pipeline {

// A non-finite training or validation loss. The run directory keeps the checkpoints of the last good epoch.
class TrainingDiverged : public Error {
 public:
  using Error::Error;
};

struct TrainHooks {
  std::FILE* progress = stderr;  // progress bars and epoch summaries; nullptr: silent
  int progress_tty = -1;         // -1: isatty(progress)
  // Called with each training loss before backward (tests use it to inject a NaN).
  std::function<void(int64_t epoch, int64_t step, Tensor& loss)> on_loss;
  // Data parallelism (docs/DISTRIBUTED.md): with a group of size N > 1 every rank runs train()/resume() with the same
  // config; cfg.batch is the global batch, each step's batch is split over the ranks (samples
  // [n*r/N, n*(r+1)/N) of a batch of n, so B % N != 0 gives some ranks one sample more, and the gradients are
  // weighted by each rank's share, which keeps the global-batch mean). Parameters are broadcast from rank 0 at the
  // start, gradients summed in fixed rank order (bucketed, during backward: overlap_grad_sum), BatchNorm running
  // statistics averaged over ranks before validation; validation, checkpoints, logs and progress on rank 0 only
  // (progress should be nullptr on the other ranks). nullptr or size 1: the single-process run, unchanged.
  dist::Communicator* comm = nullptr;
  // Under MPI: sum each bucket of gradients over the ranks as soon as backward completes it, overlapping
  // communication with the rest of backward (dist/overlapped_reducer.h; the same bits as summing after backward).
  // Off, or with --bn sync, the sum runs after backward.
  bool overlap_grad_sum = true;
  // --check-numerics: every step checks the input batch, then every gradient after backward and every weight after
  // the optimizer step, for NaN/inf, and stops (TrainingDiverged) naming the tensor, epoch and step where one first
  // appears. Without it only the loss is checked per step. Weights and optimizer state are always checked before a
  // checkpoint is written, so a checkpoint never holds a NaN.
  bool check_numerics = false;
};

struct TrainResult {
  std::vector<EpochRecord> log;  // every epoch of the run, resumed ones included
  int64_t best_epoch = 0;
  double best_val_loss = 0;
  int64_t global_step = 0;
};

// A fresh run into cfg.out (created if needed). Refuses a RUN_DIR that already holds last.safetensors (use resume).
TrainResult train(const TrainConfig& cfg, const TrainHooks& hooks = {});
// Continues cfg.out from its last.safetensors up to cfg.epochs. cfg is normally read_run_config(dir) with a new
// epoch count (threads or workers may also change; other fields must match the checkpoint's, else cq::Error).
TrainResult resume(const TrainConfig& cfg, const TrainHooks& hooks = {});
// The loader transform of a mode: none for base; make_views(aug) for aug; for cqg x1 in Sample::image and x2 in
// Sample::image2 (so Batch::images2 holds the second view), the mask following the shared geometric draw.
data::Transform make_train_transform(const std::string& mode);
// The config stored in RUN_DIR/last.safetensors.
TrainConfig read_run_config(const std::string& run_dir);

}  // namespace cq::pipeline
