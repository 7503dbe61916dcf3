// Error checks for CUDA runtime calls and kernel launches (include only from .cu files).
#pragma once
#include <cuda_runtime.h>

#include "tensor/error.h"

#define CQ_CUDA_CHECK(expr)                                                                            \
  do {                                                                                                 \
    cudaError_t cq_err_ = (expr);                                                                      \
    if (cq_err_ != cudaSuccess) ::cq::fail("CUDA error: ", cudaGetErrorString(cq_err_), " in ", #expr); \
  } while (0)

// After a <<<...>>> launch: surfaces launch-configuration errors at the launching op.
#define CQ_CUDA_LAUNCH_CHECK(opname)                                                               \
  do {                                                                                             \
    cudaError_t cq_err_ = cudaGetLastError();                                                      \
    if (cq_err_ != cudaSuccess) ::cq::fail(opname, ": CUDA launch failed: ", cudaGetErrorString(cq_err_)); \
  } while (0)

namespace cq::cuda {
constexpr int kBlock = 256;
inline int blocks_for(long long n) { return static_cast<int>((n + kBlock - 1) / kBlock); }
}  // namespace cq::cuda
