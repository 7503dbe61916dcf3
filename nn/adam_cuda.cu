// CUDA Adam: a multi-tensor fused update (one launch for all parameters of a dtype), per element the same
// adammath::adam_update as the CPU. The descriptor table (pointers, sizes, step scalars, chunk offsets) is uploaded
// once per step into a small device buffer from the caching allocator.
#include <algorithm>
#include <cstring>

#include "nn/adam_kernels.h"
#include "tensor/cuda_check.h"
#include "tensor/dtype.h"

namespace cq::kernels {
namespace {

// Elements per chunk: one block iteration; 16 elements per thread at 256 threads.
constexpr int64_t kChunk = 4096;

template <class T>
__global__ void adam_multi_kernel(const AdamTensorRef* refs, const int64_t* first_chunk, int ntensors,
                                  int64_t nchunks) {
  for (int64_t c = blockIdx.x; c < nchunks; c += gridDim.x) {
    // The tensor owning chunk c: the last t with first_chunk[t] <= c.
    int lo = 0, hi = ntensors - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (first_chunk[mid] <= c) lo = mid;
      else hi = mid - 1;
    }
    const AdamTensorRef& r = refs[lo];
    const int64_t base = (c - first_chunk[lo]) * kChunk;
    const int64_t end = base + kChunk < r.n ? base + kChunk : r.n;
    T* p = static_cast<T*>(r.p);
    const T* g = static_cast<const T*>(r.g);
    T* m = static_cast<T*>(r.m);
    T* v = static_cast<T*>(r.v);
    T* vmax = static_cast<T*>(r.vmax);
    for (int64_t i = base + threadIdx.x; i < end; i += blockDim.x)
      adammath::adam_update(p + i, g[i], m + i, v + i, vmax ? vmax + i : nullptr, r.s);
  }
}

}  // namespace

void adam_update_multi_cuda(const Tensor& like, DType dt, const std::vector<AdamTensorRef>& refs) {
  std::vector<AdamTensorRef> live;
  for (const auto& r : refs)
    if (r.n > 0) live.push_back(r);
  if (live.empty()) return;
  const int nt = static_cast<int>(live.size());
  std::vector<int64_t> first(live.size());
  int64_t nchunks = 0;
  for (int i = 0; i < nt; ++i) {
    first[i] = nchunks;
    nchunks += (live[i].n + kChunk - 1) / kChunk;
  }
  // One upload: the refs, then the chunk offsets (sizeof(AdamTensorRef) is a multiple of 8, so they stay aligned).
  static_assert(sizeof(AdamTensorRef) % 8 == 0, "descriptor alignment");
  const size_t ref_bytes = sizeof(AdamTensorRef) * live.size(), off_bytes = sizeof(int64_t) * first.size();
  std::vector<unsigned char> host(ref_bytes + off_bytes);
  std::memcpy(host.data(), live.data(), ref_bytes);
  std::memcpy(host.data() + ref_bytes, first.data(), off_bytes);
  Tensor table = like.new_empty({static_cast<int64_t>(host.size())}, DType::u8);
  CQ_CUDA_CHECK(cudaSetDevice(like.device().index));
  CQ_CUDA_CHECK(cudaMemcpy(table.data_ptr(), host.data(), host.size(), cudaMemcpyHostToDevice));
  const auto* d_refs = reinterpret_cast<const AdamTensorRef*>(table.data<uint8_t>());
  const auto* d_first = reinterpret_cast<const int64_t*>(table.data<uint8_t>() + ref_bytes);
  const int grid = static_cast<int>(std::min<int64_t>(nchunks, 65535));
  dispatch_float(dt, "adam", [&](auto tag) {
    using T = decltype(tag);
    adam_multi_kernel<T><<<grid, cuda::kBlock>>>(d_refs, d_first, nt, nchunks);
    CQ_CUDA_LAUNCH_CHECK("adam");
  });
}

}  // namespace cq::kernels
