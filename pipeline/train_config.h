// What a training run is: every option of `cqseg train`, with the paper's defaults (SPEC.md "Losses": Adam lr 1e-3,
// batch 2, 15 epochs; input 512x768 HxW; CQG lambdas 0.3, 0.7, 1.0). It round-trips through JSON so a checkpoint
// carries the config that made it and --resume continues with exactly that config.
#pragma once
#include <cstdint>
#include <string>

#include "nn/json.h"
#include "tensor/runtime.h"

namespace cq::pipeline {

struct TrainConfig {
  std::string data_root;             // <root>/<domain>/<split>/{images,masks,fov}
  std::string train_domain = "DRIVE";
  std::string train_split = "train";
  std::string val_split = "test";    // of the same (source) domain
  std::string mode = "cqg";          // base | aug | cqg
  std::string model = "unet_efficientnet_b2";
  int classes = 2;                   // K, background included
  int epochs = 15;                   // total epochs of the run (a resume trains up to this count)
  int batch = 2;
  double lr = 1e-3;
  int height = 512, width = 768;     // training and validation size, multiples of 32
  // --size native: no resize; each batch is padded (black image, background mask, outside the fov) at the bottom and
  // right to multiples of 32. height x width then hold the training images' own size (the first training image's,
  // read when the run starts; 0x0 before), which inference fits a new image into (pipeline/dcin_model.h).
  bool native_size = false;
  double l1 = 0.3, l2 = 0.7, l3 = 1.0;  // CQG weights
  uint64_t seed = 0;
  int threads = 0;                   // compute threads; 0 = all cores
  int workers = 2;                   // loader threads decoding ahead
  // Where the model trains (Device::parse text) and how GPU math may trade accuracy/reproducibility for speed
  // (parse_precision text; deterministic = no --fast-nondeterministic). All three may change on --resume.
  std::string device = "cpu";
  std::string precision = "fp32";
  bool deterministic = true;
  bool skip_bad = false;
  std::string init_weights;          // safetensors: encoder (smp/timm/torchvision names), full smp state or checkpoint
  std::string out;                   // RUN_DIR
  // Limits for quick runs and tests (0 = no limit): training steps per epoch, validation batches.
  int max_steps = 0;
  int max_val_batches = 0;
  // BatchNorm while training: "batch" = batch statistics (per rank under MPI: each rank normalises by its own shard,
  // as PyTorch DDP without SyncBatchNorm); "sync" = statistics of the whole global batch, summed over the ranks
  // (nn/sync_batch_norm.h; in one process the same as batch up to rounding); "frozen" = the whole network runs in eval mode while it trains (BatchNorm
  // uses and keeps its running statistics, drop-connect off: the fine-tuning setting, where any split of the batch
  // over ranks gives the single-process gradient up to float summation order).
  std::string bn = "batch";
  double drop_connect = 0.2;
  // --precise-bn: before each validation the BatchNorm running statistics are recomputed over the training images
  // (pipeline/precise_bn.h); needed when an epoch is a few steps (the encoder's momentum is 0.01).
  bool precise_bn = false;         // EfficientNet stochastic depth rate (timm/smp default)

  // Throws cq::Error naming the option on any invalid value.
  void validate() const;
  ComputeOptions compute_options() const;
  json::Value to_json() const;
  // Strict: unknown keys or wrong types throw (a checkpoint from another program is not silently half-read).
  static TrainConfig from_json(const json::Value& v);
};

// "512x768" -> (512, 768); throws naming the text.
void parse_size(const std::string& text, int* h, int* w);
// "0.3,0.7,1.0" -> three finite numbers; throws naming the text.
void parse_lambdas(const std::string& text, double* l1, double* l2, double* l3);

}  // namespace cq::pipeline
