// SGEMM through cq::kernels::gemm_cpu (row-major, no transposes, beta 0) on the conv-shaped GEMMs of issue #6 and
// squares 256..2048, 1 and 2 threads; GFLOP/s and the fraction of the FP32 peak as counters. Peer:
// bench/peers/torch_micro.py (torch.mm and numpy/OpenBLAS sgemm on the same shapes).
#include <vector>

#include "bench/bench_util.h"
#include "kernels/matmul/gemm.h"
#include "tensor/allocator.h"
#include "tensor/rng.h"

namespace {

// Matrices in the engine's host memory (cq::host_alloc: huge-page advised, as numpy's arrays for the peer).
struct HostFloats {
  float* p;
  size_t n;
  explicit HostFloats(size_t n_) : p(static_cast<float*>(cq::host_alloc(n_ * sizeof(float)))), n(n_) {}
  ~HostFloats() { cq::host_free(p); }
  float* data() { return p; }
  float* begin() { return p; }
  float* end() { return p + n; }
};

void BM_Sgemm(benchmark::State& st) {
  const int64_t M = st.range(0), N = st.range(1), K = st.range(2);
  const int threads = static_cast<int>(st.range(3));
  cq::Rng rng(1);
  HostFloats A(size_t(M * K)), B(size_t(K * N)), C(size_t(M * N));
  for (float& v : A) v = float(rng.normal());
  for (float& v : B) v = float(rng.normal());
  for (auto _ : st) {
    cq::kernels::gemm_cpu<float>(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C.data(), N, threads);
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  cq::bench::set_flop_counters(st, 2.0 * double(M) * double(N) * double(K), threads);
}

void gemm_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "N", "K", "threads"});
  for (int t : {1, 2}) {
    b->Args({64, 16384, 576, t});   // conv3x3 64->64 on 128x128 as a GEMM
    b->Args({256, 1024, 2304, t});  // conv3x3 256->256 on 32x32
    for (int s : {256, 512, 1024, 2048}) b->Args({s, s, s, t});
  }
}
BENCHMARK(BM_Sgemm)->Apply(gemm_shapes)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
