// Data-parallel training helpers over a Communicator (docs/DISTRIBUTED.md): every rank holds a full replica of the
// model and optimiser, computes gradients on its shard of the global batch, and the replicas stay identical because
// every rank applies the same summed gradient (the Communicator's sum hands every rank the same bytes).
#pragma once
#include <cstdint>
#include <vector>

#include "dist/communicator.h"
#include "nn/module.h"

namespace cq::dist {

// Copies every parameter and buffer of `m` from rank 0 to all ranks (start of a run, after init or a resume load).
void broadcast_module(Communicator& comm, nn::Module& m);

// BatchNorm running statistics (floating buffers) replaced by their mean over ranks; integer buffers
// (num_batches_tracked, which a rank with an empty shard of a short batch does not advance) take rank 0's value. With per-rank BatchNorm each replica tracks statistics of its
// own shard; averaging before validation/checkpointing gives rank 0 the statistics of all the data.
void average_buffers(Communicator& comm, nn::Module& m);

// The gradient all-reduce: packs the gradients into buckets of about bucket_bytes, sums each bucket over ranks and
// unpacks. Each rank first scales its gradients by `weight` (its share of the global batch, b_rank / B), so the
// sum is the gradient of the global-batch mean loss whatever the split. A parameter with no gradient on some rank
// (e.g. a rank whose shard of a short final batch is empty) gets zeros there if any rank has one; parameters no rank
// touched keep an undefined gradient (the optimiser skips them as in a single process).
// This is the sum after backward; dist/overlapped_reducer.h runs the same sums during it (the same bits).
class GradientReducer {
 public:
  GradientReducer(std::vector<Tensor> params, int64_t bucket_bytes = int64_t(4) << 20);
  void reduce(Communicator& comm, double weight);
  // Bytes of gradient each rank contributes per step (for the communication-volume note).
  int64_t gradient_bytes() const;

 private:
  std::vector<Tensor> params_;
  int64_t bucket_bytes_;
};

}  // namespace cq::dist
