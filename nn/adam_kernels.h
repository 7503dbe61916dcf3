// Kernel entry points of the Adam update (CPU in adam_cpu.cpp, CUDA in adam_cuda.cu; same contract): every tensor is
// contiguous with the parameter's shape, dtype (f32/f64) and device; vmax is null unless s.amsgrad.
#pragma once
#include <vector>

#include "nn/adam_math.h"
#include "tensor/tensor.h"

namespace cq::kernels {

// One parameter of a multi-tensor update: raw device pointers (kept alive by the caller until the update is issued;
// later work on the same stream is ordered after it), its element count and its own step scalars (each parameter
// has its own step count t, so its own bias corrections).
struct AdamTensorRef {
  void* p;
  const void* g;
  void* m;
  void* v;
  void* vmax;  // nullptr unless s.amsgrad
  int64_t n;
  adammath::StepScalars s;
};
// Multi-tensor Adam on the CPU: every tensor of `refs` (all of dtype dt) in one parallel loop over fixed chunks of
// the concatenated elements (one fork/join per step instead of one per parameter; small parameters no longer run
// serially). Per element adammath::adam_update, so results do not depend on the grouping or the thread count.
void adam_update_multi_cpu(DType dt, const std::vector<AdamTensorRef>& refs, int threads);
#ifdef CQ_CUDA
// Multi-tensor fused Adam: every tensor of `refs` (all of dtype dt on `like`'s device) updated by ONE kernel launch
// (chunks of the concatenated parameters; each block finds its tensor by binary search over chunk offsets).
// Per element the same adammath::adam_update as the CPU, so results do not depend on the grouping.
void adam_update_multi_cuda(const Tensor& like, DType dt, const std::vector<AdamTensorRef>& refs);
#endif

}  // namespace cq::kernels
