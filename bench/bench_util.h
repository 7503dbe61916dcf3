// Shared bits of the microbenchmarks (bench/*_bench.cpp): the thread count, the FP32 peak the roofline column is
// measured against, and the counters every family reports.
#pragma once
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "tensor/context.h"

namespace cq::bench {

// CQ_BENCH_THREADS (default 2, as the peers in bench/peers run).
inline int env_threads() {
  const char* e = std::getenv("CQ_BENCH_THREADS");
  const int t = e ? std::atoi(e) : 2;
  return t > 0 ? t : 2;
}

// FP32 FMA peak of the reference machine per thread (issue #6: 234 GFLOP/s for 2 threads on the Zen 4 runners).
// Override with CQ_PEAK_GFLOPS_PER_THREAD on another machine.
inline double peak_gflops(int threads) {
  const char* e = std::getenv("CQ_PEAK_GFLOPS_PER_THREAD");
  const double per = e ? std::atof(e) : 117.0;
  return per * threads;
}

// GFLOP/s (flops per iteration, rate over real time) and the fraction of the FP32 peak it reaches.
inline void set_flop_counters(benchmark::State& st, double flops_per_iter, int threads) {
  st.counters["GFLOPs"] = benchmark::Counter(flops_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["peak_frac"] =
      benchmark::Counter(flops_per_iter * 1e-9 / peak_gflops(threads), benchmark::Counter::kIsIterationInvariantRate);
}

// Peak bytes the context's allocator handed out at once (the tensors of this benchmark; the process RSS mixes
// every benchmark of the run, so the per-benchmark figure is the allocator's).
inline void set_memory_counter(benchmark::State& st, Context& ctx) {
  st.counters["peak_MiB"] = static_cast<double>(ctx.memory().peak) / (1 << 20);
}

inline Context make_ctx(int threads, uint64_t seed = 0) {
  ContextOptions o;
  o.threads = threads;
  o.seed = seed;
  return Context(o);
}

}  // namespace cq::bench
