#include "tensor/runtime.h"

#include <thread>

#include "tensor/cuda_backend.h"
#include "tensor/error.h"

namespace cq {

Runtime::Runtime(int threads) { set_threads(threads); }

void Runtime::set_threads(int n) {
  CQ_CHECK(n >= 0, "Runtime: thread count must be >= 0 (0 = all cores), got ", n);
  if (n == 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads_ = n;
}

Allocator& Runtime::allocator(Device d) {
  if (d.is_cpu()) return cpu_;
  std::lock_guard<std::mutex> lk(mu_);
  CQ_CHECK(d.index >= 0, "Runtime: bad CUDA device index ", d.index);
  if (static_cast<size_t>(d.index) >= cuda_.size()) cuda_.resize(d.index + 1);
  if (!cuda_[d.index]) cuda_[d.index] = cuda::make_allocator(d.index);
  return *cuda_[d.index];
}

}  // namespace cq
