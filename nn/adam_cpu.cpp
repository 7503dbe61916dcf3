// CPU Adam update: one independent element per iteration, so the result does not depend on the thread count or on
// how the parameters are grouped.
#include "nn/adam_kernels.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "kernels/cpu_clones.h"
#include "tensor/runtime.h"

namespace cq::kernels {

namespace {
// One chunk of one tensor, compiled per ISA (kernels/cpu_clones.h) so the double arithmetic runs 8 lanes wide with
// AVX-512 (the baseline build is SSE2). fp-contract=off: no clone may fuse a*b+c into an FMA, so every ISA keeps the
// rounding of adammath::adam_update as written (which the CUDA kernel reproduces with __dmul_rn / __dadd_rn).
template <bool kWd, bool kAms, class T>
CQ_ALWAYS_INLINE void chunk_loop(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const adammath::StepScalars& s) {
  for (int64_t i = 0; i < n; ++i)
    adammath::adam_update_fixed<kWd, kAms>(p + i, g[i], m + i, v + i, kAms ? vmax + i : nullptr, s);
}
template <class T>
CQ_ALWAYS_INLINE void chunk_impl(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const adammath::StepScalars& s) {
  const adammath::StepScalars sc = s;  // a local copy: the stores through p cannot alias it
  const bool wd = sc.weight_decay != 0.0;
  if (sc.amsgrad) {
    if (wd) chunk_loop<true, true>(p, g, m, v, vmax, n, sc);
    else chunk_loop<false, true>(p, g, m, v, vmax, n, sc);
  } else {
    if (wd) chunk_loop<true, false>(p, g, m, v, vmax, n, sc);
    else chunk_loop<false, false>(p, g, m, v, vmax, n, sc);
  }
}
#define CQ_ADAM_CHUNK_ATTRS CQ_CPU_CLONES __attribute__((optimize("fp-contract=off")))
CQ_ADAM_CHUNK_ATTRS void adam_chunk(float* p, const float* g, float* m, float* v, float* vmax, int64_t n,
                                    const adammath::StepScalars& s) {
  chunk_impl(p, g, m, v, vmax, n, s);
}
CQ_ADAM_CHUNK_ATTRS void adam_chunk(double* p, const double* g, double* m, double* v, double* vmax, int64_t n,
                                    const adammath::StepScalars& s) {
  chunk_impl(p, g, m, v, vmax, n, s);
}
#undef CQ_ADAM_CHUNK_ATTRS

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
    const int64_t i0 = chunks[static_cast<size_t>(c)].second, len = std::min(t.n - i0, kChunk);
    adam_chunk(static_cast<T*>(t.p) + i0, static_cast<const T*>(t.g) + i0, static_cast<T*>(t.m) + i0,
               static_cast<T*>(t.v) + i0, t.vmax ? static_cast<T*>(t.vmax) + i0 : nullptr, len, t.s);
  }
}
}  // namespace

void adam_update_multi_cpu(DType dt, const std::vector<AdamTensorRef>& refs, int threads) {
  dispatch_float(dt, "adam", [&](auto tag) { multi<decltype(tag)>(refs, threads); });
}

}  // namespace cq::kernels
