// Allocators. The CPU one caches freed blocks by rounded size (64-byte aligned, as AVX-512 loads want) and counts
// bytes so memory use is visible: current = handed out now, peak = most handed out at once, cached = kept for reuse.
#pragma once
#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

namespace cq {

struct MemoryStats {
  size_t current = 0;
  size_t peak = 0;
  size_t cached = 0;
  size_t allocations = 0;  // calls to allocate()
  size_t system_allocations = 0;  // calls that had to ask the system (cache misses)
};

// Host memory for tensors and kernel buffers: 64-byte aligned; blocks of 2 MiB or more are 2 MiB aligned and advised
// for transparent huge pages (madvise MADV_HUGEPAGE; Linux's default THP mode is "madvise"), as numpy does for its
// arrays. Why: a GEMM or convolution walks the rows of a large matrix thousands of 4 KiB pages apart, and with 4 KiB
// pages every micro-tile's C rows miss the TLB (measured: SGEMM 2048^2 on one core 149 -> 160 GFLOP/s). Release with
// host_free. Returns nullptr when the system has no memory.
void* host_alloc(size_t bytes);
void host_free(void* p);

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* p, size_t nbytes) = 0;
  virtual MemoryStats stats() const = 0;
  virtual void reset_peak() = 0;
  virtual void release_cache() = 0;
};

class CpuCachingAllocator final : public Allocator {
 public:
  static constexpr size_t kAlignment = 64;
  ~CpuCachingAllocator() override;
  void* allocate(size_t nbytes) override;
  void deallocate(void* p, size_t nbytes) override;
  MemoryStats stats() const override;
  void reset_peak() override;
  void release_cache() override;
  // The size class a request of nbytes is served from (exposed for tests).
  static size_t round_size(size_t nbytes);

 private:
  mutable std::mutex mu_;
  std::multimap<size_t, void*> free_;  // rounded size -> cached block
  MemoryStats st_;
};

}  // namespace cq
