// Helpers shared by every op's device dispatch.
#pragma once
#include "tensor/strided.h"
#include "tensor/tensor.h"

// Inside an op: `if (x.device().is_cuda()) CQ_CUDA_CALL("op", return cuda_impl(...));` compiles to the call in a
// CUDA build and to a clear error in a CPU-only build.
#ifdef CQ_CUDA
#define CQ_CUDA_CALL(opname, ...) \
  do {                            \
    __VA_ARGS__;                  \
  } while (0)
#else
#define CQ_CUDA_CALL(opname, ...) ::cq::fail(opname, ": this build has no CUDA support (CQ_CUDA=OFF)")
#endif

namespace cq {

StridedLayout layout_of(const Tensor& t);
// Layout of t read as if broadcast to `shape` (size-1 and missing leading axes get stride 0).
StridedLayout broadcast_layout(const Tensor& t, const Shape& shape);
// The broadcast of two shapes (numpy rules) or an error naming op and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// All inputs on one device and of one dtype, else an error naming op and each input.
void check_same_device(const char* op, const std::vector<Tensor>& ts);
void check_same_dtype(const char* op, const std::vector<Tensor>& ts);

}  // namespace cq
