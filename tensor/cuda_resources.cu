// DeviceResources: lazily created cuBLAS/cuDNN handles and a growable workspace per Runtime and device.
#include "tensor/cuda_backend.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_resources.h"

namespace cq::cuda {

DeviceResources::DeviceResources(int dev) : device(dev) { require_device(dev); }

DeviceResources::~DeviceResources() {
  // Errors are ignored: at process exit the driver may already be shutting down.
  cudaSetDevice(device);
  if (cudnn_) cudnnDestroy(cudnn_);
  if (cublas_) cublasDestroy(cublas_);
  if (ws_) cudaFree(ws_);
}

cublasHandle_t DeviceResources::cublas() {
  if (!cublas_) {
    CQ_CUDA_CHECK(cudaSetDevice(device));
    cublasStatus_t s = cublasCreate(&cublas_);
    if (s != CUBLAS_STATUS_SUCCESS) {
      cublas_ = nullptr;
      fail("CUDA: cublasCreate failed on device ", device, " (cuBLAS status ", static_cast<int>(s), ")");
    }
    cublasSetStream(cublas_, stream);
  }
  return cublas_;
}

cudnnHandle_t DeviceResources::cudnn() {
  if (!cudnn_) {
    CQ_CUDA_CHECK(cudaSetDevice(device));
    cudnnStatus_t s = cudnnCreate(&cudnn_);
    if (s != CUDNN_STATUS_SUCCESS) {
      cudnn_ = nullptr;
      fail("CUDA: cudnnCreate failed on device ", device, ": ", cudnnGetErrorString(s));
    }
    cudnnSetStream(cudnn_, stream);
  }
  return cudnn_;
}

void* DeviceResources::workspace(size_t bytes) {
  if (bytes == 0) return nullptr;
  if (bytes > ws_bytes_) {
    CQ_CUDA_CHECK(cudaSetDevice(device));
    if (ws_) cudaFree(ws_);
    ws_ = nullptr;
    ws_bytes_ = 0;
    // Round up to 1 MiB so a slowly growing request does not reallocate every call.
    const size_t sz = (bytes + (1u << 20) - 1) & ~static_cast<size_t>((1u << 20) - 1);
    CQ_CUDA_CHECK(cudaMalloc(&ws_, sz));
    ws_bytes_ = sz;
  }
  return ws_;
}

std::shared_ptr<DeviceResources> make_resources(int device) { return std::make_shared<DeviceResources>(device); }

DeviceResources& resources_for(const Tensor& t) {
  CQ_CHECK(t.device().is_cuda(), "CUDA resources requested for a tensor on ", t.device().str());
  DeviceResources& r = t.runtime().cuda_resources(t.device().index);
  CQ_CUDA_CHECK(cudaSetDevice(r.device));
  return r;
}

cublasHandle_t cublas_for(const Tensor& t) {
  DeviceResources& r = resources_for(t);
  cublasHandle_t h = r.cublas();
  // CUBLAS_DEFAULT_MATH never uses TF32 for FP32 GEMMs (unless NVIDIA_TF32_OVERRIDE is set in the environment).
  const bool tf32 = t.runtime().compute().precision == Precision::tf32;
  cublasSetMathMode(h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
  return h;
}

}  // namespace cq::cuda
