// CPU Adam update: one independent element per iteration, so the result does not depend on the thread count or on
// how the parameters are grouped.
#include "nn/adam_kernels.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "tensor/runtime.h"

namespace cq::kernels {

namespace {
template <class T>
void multi(const std::vector<AdamTensorRef>& refs, int threads) {
  // Chunks never straddle two tensors: chunk k of tensor r covers [k * kChunk, min(n, (k + 1) * kChunk)).
  constexpr int64_t kChunk = int64_t(1) << 14;
  std::vector<std::pair<size_t, int64_t>> chunks;  // (tensor, first element)
  for (size_t r = 0; r < refs.size(); ++r)
    for (int64_t i = 0; i < refs[r].n; i += kChunk) chunks.push_back({r, i});
  const int64_t nchunks = static_cast<int64_t>(chunks.size());
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4) if (threads > 1 && nchunks > 1)
  for (int64_t c = 0; c < nchunks; ++c) {
    const AdamTensorRef& t = refs[chunks[static_cast<size_t>(c)].first];
    const int64_t i0 = chunks[static_cast<size_t>(c)].second, i1 = std::min(t.n, i0 + kChunk);
    T* pp = static_cast<T*>(t.p);
    const T* gp = static_cast<const T*>(t.g);
    T* mp = static_cast<T*>(t.m);
    T* vp = static_cast<T*>(t.v);
    T* xp = static_cast<T*>(t.vmax);
    for (int64_t i = i0; i < i1; ++i) adammath::adam_update(pp + i, gp[i], mp + i, vp + i, xp ? xp + i : nullptr, t.s);
  }
}
}  // namespace

void adam_update_multi_cpu(DType dt, const std::vector<AdamTensorRef>& refs, int threads) {
  if (dt == DType::f64) multi<double>(refs, threads);
  else if (dt == DType::f32) multi<float>(refs, threads);
  else fail("adam: dtype ", dtype_name(dt), " not supported (f32, f64 only)");
}

}  // namespace cq::kernels
