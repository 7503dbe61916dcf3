// Runtime: the per-Context state every tensor points back to (allocators, thread count, grad mode). It replaces
// process globals: two Contexts in one process never share allocators, threads or grad mode.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tensor/allocator.h"
#include "tensor/device.h"

namespace cq {

namespace cuda {
struct DeviceResources;  // cuBLAS/cuDNN handles, stream and workspace of one device (tensor/cuda_resources.h)
}

// How GPU math may trade accuracy or reproducibility for speed. The CPU always computes in the tensor's dtype and
// deterministically, so these only change CUDA runs.
enum class Precision : uint8_t {
  fp32,  // f32 GEMMs and convolutions in full FP32 (cuBLAS default math, cuDNN FMA math): matches the CPU closely
  tf32,  // f32 tensors, TF32 tensor-core math in cuBLAS and cuDNN (10-bit mantissa products, FP32 accumulation)
  bf16,  // reserved: rejected by set_compute (needs bf16 tensors, which the engine does not have)
};
const char* precision_name(Precision p);
// "fp32", "tf32" or "bf16" (parsed so the message about bf16 can be specific); anything else throws.
Precision parse_precision(const std::string& text);

struct ComputeOptions {
  Precision precision = Precision::fp32;
  // true: only deterministic cuDNN algorithms and no atomics in reductions, so a GPU run repeats bit for bit.
  // false (--fast-nondeterministic): cuDNN's heuristic picks the fastest algorithm, deterministic or not.
  bool deterministic = true;
};

class Runtime {
 public:
  explicit Runtime(int threads);
  Allocator& allocator(Device d);
  CpuCachingAllocator& cpu_allocator() { return cpu_; }
  int threads() const { return threads_; }
  void set_threads(int n);
  const ComputeOptions& compute() const { return compute_; }
  // Throws cq::Error for bf16 (not implemented; see Precision).
  void set_compute(const ComputeOptions& c);
  // Library handles for CUDA device `device`, created on first use and kept for this Runtime's lifetime
  // (cuBLAS/cuDNN handle creation costs milliseconds and allocates; per-call creation was the old behaviour).
  cuda::DeviceResources& cuda_resources(int device);
  bool grad_enabled() const { return grad_enabled_.load(std::memory_order_relaxed); }
  void set_grad_enabled(bool on) { grad_enabled_.store(on, std::memory_order_relaxed); }
  // Creation order of autograd nodes (the engine runs ready nodes newest first).
  uint64_t next_sequence() { return sequence_.fetch_add(1, std::memory_order_relaxed); }

 private:
  CpuCachingAllocator cpu_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Allocator>> cuda_;  // index = device, created on first use
  // Declared after the allocators so they are destroyed first (they free their workspace through the runtime API).
  std::vector<std::shared_ptr<cuda::DeviceResources>> cuda_res_;
  int threads_;
  ComputeOptions compute_;
  std::atomic<bool> grad_enabled_{true};
  std::atomic<uint64_t> sequence_{0};
};

}  // namespace cq
