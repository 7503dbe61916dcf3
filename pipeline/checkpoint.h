// Training checkpoints (best.safetensors, last.safetensors): one safetensors file holding everything a run needs to
// continue bit-identically, written atomically (temp + rename, by save_safetensors).
//   model/<smp name>     every parameter and buffer (BatchNorm running stats, num_batches_tracked)
//   optim/<adam key>     nn::Adam::state_dict() (step counts, moments, hyper-parameters)
//   rng/state            i64 [4]: the context generator's xoshiro state (u64 bits), which drop-connect draws from
//   rng/spare            f64 0-dim, rng/has_spare i64 0-dim: its cached Box-Muller normal
//   train/epoch, train/global_step, train/best_epoch  i64 0-dim; train/best_val_loss f64 0-dim
// metadata: format, config (the TrainConfig JSON), epoch, best_val_loss, model, mode (human-readable copies).
#pragma once
#include <map>
#include <string>

#include "nn/adam.h"
#include "nn/module.h"
#include "tensor/context.h"
#include "tensor/rng.h"

namespace cq::pipeline {

constexpr const char* kCheckpointFormat = "cqseg-train-checkpoint-1";

struct CheckpointState {
  int64_t epoch = 0;  // epochs completed
  int64_t global_step = 0;
  int64_t best_epoch = 0;  // 0: none yet
  double best_val_loss = 0;
  std::string config_json;
};

void save_checkpoint(const std::string& path, const nn::Module& model, const nn::Adam& adam, const Rng& rng,
                     const CheckpointState& st, const std::map<std::string, std::string>& extra_metadata = {});

struct LoadedCheckpoint {
  std::map<std::string, Tensor> model, optim;
  Rng::State rng{};
  CheckpointState state;
  std::map<std::string, std::string> metadata;
};
// Throws cq::Error naming the file when it is not a cqseg training checkpoint or a part is missing.
LoadedCheckpoint load_checkpoint(Context& ctx, const std::string& path);

}  // namespace cq::pipeline
