// The gradient sum of data-parallel training on GPU ranks through NCCL (docs/DISTRIBUTED.md, "NCCL"): one rank per
// GPU, launched by mpirun; the MPI communicator only bootstraps NCCL (rank 0's ncclUniqueId is broadcast over it) and
// exchanges the one-float-per-parameter presence flags. Gradients never leave the devices.
//
// Deterministic (default): each bucket is all-gathered (ncclAllGather) and every GPU adds the N parts in rank order
// (dist/rank_order_sum.h), the same order and precision as the MPI path, so every rank gets the same bits and a run
// is bit-reproducible for a fixed rank count. The price is N-1 buckets received per rank instead of a ring
// all-reduce's 2(N-1)/N. With --fast-nondeterministic: ncclAllReduce (ring/tree; its order is NCCL's choice).
//
// Built when the CUDA backend is on and nccl.h is found (CMake: "NCCL ON"); otherwise built_with_nccl() is false and
// the constructor throws. Untested here: there is no multi-GPU machine (NCCL refuses two ranks on one GPU).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "dist/communicator.h"
#include "tensor/tensor.h"

namespace cq::dist {

bool built_with_nccl();

class NcclGradientReducer {
 public:
  // params: f32 leaves on this rank's CUDA device. bootstrap: the MPI communicator of the same ranks.
  NcclGradientReducer(Communicator& bootstrap, std::vector<Tensor> params, bool deterministic,
                      int64_t bucket_bytes = int64_t(4) << 20);
  ~NcclGradientReducer();
  NcclGradientReducer(const NcclGradientReducer&) = delete;
  NcclGradientReducer& operator=(const NcclGradientReducer&) = delete;

  // After backward: every gradient times `weight`, summed over the ranks (as GradientReducer::reduce).
  void reduce(double weight);
  int64_t gradient_bytes() const;
  std::string describe() const;  // "NCCL 2.28.3, deterministic all-gather + rank-order sum"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cq::dist
