// Runtime: the per-Context state every tensor points back to (allocators, thread count, grad mode). It replaces
// process globals: two Contexts in one process never share allocators, threads or grad mode.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "tensor/allocator.h"
#include "tensor/device.h"

namespace cq {

class Runtime {
 public:
  explicit Runtime(int threads);
  Allocator& allocator(Device d);
  CpuCachingAllocator& cpu_allocator() { return cpu_; }
  int threads() const { return threads_; }
  void set_threads(int n);
  bool grad_enabled() const { return grad_enabled_.load(std::memory_order_relaxed); }
  void set_grad_enabled(bool on) { grad_enabled_.store(on, std::memory_order_relaxed); }
  // Creation order of autograd nodes (the engine runs ready nodes newest first).
  uint64_t next_sequence() { return sequence_.fetch_add(1, std::memory_order_relaxed); }

 private:
  CpuCachingAllocator cpu_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Allocator>> cuda_;  // index = device, created on first use
  int threads_;
  std::atomic<bool> grad_enabled_{true};
  std::atomic<uint64_t> sequence_{0};
};

}  // namespace cq
