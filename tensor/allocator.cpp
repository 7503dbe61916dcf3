#include "tensor/allocator.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "tensor/error.h"

namespace cq {

void* host_alloc(size_t bytes) {
  constexpr size_t kHuge = size_t(2) << 20;
  if (bytes < kHuge) return std::aligned_alloc(CpuCachingAllocator::kAlignment, (std::max<size_t>(bytes, 1) + 63) / 64 * 64);
  const size_t sz = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, sz);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (p) madvise(p, sz, MADV_HUGEPAGE);  // advice only: a kernel without THP ignores it
#endif
  return p;
}

void host_free(void* p) { std::free(p); }

size_t CpuCachingAllocator::round_size(size_t n) {
  if (n == 0) n = 1;
  if (n <= 4096) return (n + kAlignment - 1) / kAlignment * kAlignment;
  // Above 4 KiB: four size classes per power of two, so a cached block wastes at most 25%.
  size_t p = 4096;
  while (p * 2 < n) p *= 2;
  size_t step = p / 4;
  return (n + step - 1) / step * step;
}

CpuCachingAllocator::~CpuCachingAllocator() { release_cache(); }

void* CpuCachingAllocator::allocate(size_t nbytes) {
  size_t sz = round_size(nbytes);
  {
    std::lock_guard<std::mutex> lk(mu_);
    st_.allocations++;
    auto it = free_.find(sz);
    if (it != free_.end()) {
      void* p = it->second;
      free_.erase(it);
      st_.cached -= sz;
      st_.current += sz;
      if (st_.current > st_.peak) st_.peak = st_.current;
      return p;
    }
    st_.system_allocations++;
  }
  void* p = host_alloc(sz);
  if (!p) {
    release_cache();
    p = host_alloc(sz);
  }
  CQ_CHECK(p, "CPU allocator: out of memory allocating ", sz, " bytes");
  std::lock_guard<std::mutex> lk(mu_);
  st_.current += sz;
  if (st_.current > st_.peak) st_.peak = st_.current;
  return p;
}

void CpuCachingAllocator::deallocate(void* p, size_t nbytes) {
  if (!p) return;
  size_t sz = round_size(nbytes);
  std::lock_guard<std::mutex> lk(mu_);
  st_.current -= sz;
  st_.cached += sz;
  free_.emplace(sz, p);
}

MemoryStats CpuCachingAllocator::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return st_;
}

void CpuCachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lk(mu_);
  st_.peak = st_.current;
}

void CpuCachingAllocator::release_cache() {
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& kv : free_) host_free(kv.second);
  free_.clear();
  st_.cached = 0;
}

}  // namespace cq
