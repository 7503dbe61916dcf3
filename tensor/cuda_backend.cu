// CUDA runtime glue: device discovery, a caching device allocator with byte counts, copies.
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <string>

#include "tensor/cuda_backend.h"
#include "tensor/cuda_check.h"
#include "tensor/error.h"

namespace cq::cuda {

bool built_with_cuda() { return true; }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error so later calls start clean
    return 0;
  }
  return n;
}

bool available() { return device_count() > 0; }

std::string unavailable_reason() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e);
  }
  return n > 0 ? std::string() : std::string("cudaGetDeviceCount: 0 devices");
}

void require_device(int index) {
  const std::string why = unavailable_reason();
  if (!why.empty()) fail("--device cuda:", index, ": no CUDA device found (", why, ")");
  const int n = device_count();
  CQ_CHECK(index >= 0 && index < n, "--device cuda:", index, ": device not present (", n, " CUDA device",
           n == 1 ? "" : "s", ", indices 0..", n - 1, ")");
}

namespace {
class CudaCachingAllocator final : public Allocator {
 public:
  explicit CudaCachingAllocator(int dev) : dev_(dev) {}
  ~CudaCachingAllocator() override { release_cache(); }
  void* allocate(size_t nbytes) override {
    size_t sz = CpuCachingAllocator::round_size(nbytes);
    std::lock_guard<std::mutex> lk(mu_);
    st_.allocations++;
    auto it = free_.find(sz);
    void* p = nullptr;
    if (it != free_.end()) {
      p = it->second;
      free_.erase(it);
      st_.cached -= sz;
    } else {
      st_.system_allocations++;
      CQ_CUDA_CHECK(cudaSetDevice(dev_));
      if (cudaMalloc(&p, sz) != cudaSuccess) {
        cudaGetLastError();
        release_locked();
        CQ_CUDA_CHECK(cudaMalloc(&p, sz));
      }
    }
    st_.current += sz;
    if (st_.current > st_.peak) st_.peak = st_.current;
    return p;
  }
  void deallocate(void* p, size_t nbytes) override {
    if (!p) return;
    size_t sz = CpuCachingAllocator::round_size(nbytes);
    std::lock_guard<std::mutex> lk(mu_);
    st_.current -= sz;
    st_.cached += sz;
    free_.emplace(sz, p);
  }
  MemoryStats stats() const override {
    std::lock_guard<std::mutex> lk(mu_);
    return st_;
  }
  void reset_peak() override {
    std::lock_guard<std::mutex> lk(mu_);
    st_.peak = st_.current;
  }
  void release_cache() override {
    std::lock_guard<std::mutex> lk(mu_);
    release_locked();
  }

 private:
  void release_locked() {
    for (auto& kv : free_) cudaFree(kv.second);
    free_.clear();
    st_.cached = 0;
  }
  int dev_;
  mutable std::mutex mu_;
  std::multimap<size_t, void*> free_;
  MemoryStats st_;
};
}  // namespace

std::unique_ptr<Allocator> make_allocator(int device) {
  require_device(device);
  return std::make_unique<CudaCachingAllocator>(device);
}

void memcpy(void* dst, const void* src, size_t nbytes, Copy kind) {
  cudaMemcpyKind k = kind == Copy::HostToDevice   ? cudaMemcpyHostToDevice
                     : kind == Copy::DeviceToHost ? cudaMemcpyDeviceToHost
                                                  : cudaMemcpyDeviceToDevice;
  CQ_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, k));
}

void memset_zero(void* dst, size_t nbytes) { CQ_CUDA_CHECK(cudaMemset(dst, 0, nbytes)); }

void synchronize() { CQ_CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace cq::cuda
