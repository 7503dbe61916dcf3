// Per-Runtime, per-device CUDA library state (include only from .cu files): the cuBLAS and cuDNN handles, the stream
// every kernel of the device runs on, and one growable workspace. Created lazily by Runtime::cuda_resources and
// destroyed with the Runtime, so two Contexts never share handles and nothing is a process global.
//
// Stream: the legacy default stream. Every kernel in kernels/ launches on it, and the caching device allocator
// reuses freed blocks without recording events; one in-order stream is what makes that reuse safe. Handles are bound
// to the same stream so library calls and our kernels stay ordered.
// Threading: a Runtime's GPU ops are issued from one host thread at a time (as the trainer and evaluator do); the
// handles are not locked per call.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>

#include "tensor/runtime.h"
#include "tensor/tensor.h"

namespace cq::cuda {

struct DeviceResources {
  explicit DeviceResources(int device);
  ~DeviceResources();
  DeviceResources(const DeviceResources&) = delete;
  DeviceResources& operator=(const DeviceResources&) = delete;

  int device;
  cudaStream_t stream = nullptr;  // legacy default stream (see above)
  // Created on first use: cuDNN loads its sub-libraries on cudnnCreate, which a GEMM-only run need not pay for.
  cublasHandle_t cublas();
  cudnnHandle_t cudnn();
  // A device buffer of at least `bytes` (nullptr for 0), reused across calls; growing it frees the old one (cudaFree
  // synchronises, so no in-flight kernel still reads it).
  void* workspace(size_t bytes);

 private:
  cublasHandle_t cublas_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  void* ws_ = nullptr;
  size_t ws_bytes_ = 0;
};

// The resources of t's device in t's runtime, with that device made current.
DeviceResources& resources_for(const Tensor& t);
// cuBLAS handle for t's device, its math mode set from the runtime's precision (FP32 default math, or TF32).
cublasHandle_t cublas_for(const Tensor& t);

}  // namespace cq::cuda
