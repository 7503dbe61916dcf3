// Convolution microbenchmarks. Threads: CQ_BENCH_THREADS (default 2, as the PyTorch peer). Peer for the depthwise
// case: PyTorch 1.13 depthwise 3x3 on 1x192x128x128 forward about 0.7 ms with 2 threads (issue 6).
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "kernels/conv2d/conv2d.h"
#include "tensor/context.h"

namespace {
int bench_threads() {
  const char* e = std::getenv("CQ_BENCH_THREADS");
  return e ? std::atoi(e) : 2;
}

cq::Conv2dParams depthwise_params(int64_t c, int64_t k, int64_t stride) {
  cq::Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_l = p.pad_t = (k - 1) / 2;
  p.pad_r = p.pad_b = k / 2;
  p.groups = c;
  return p;
}

// Depthwise k x k, stride s, on [1, C, H, H]: args {C, H, k, s}. Forward only, no graph.
void BM_Depthwise(benchmark::State& st) {
  cq::ContextOptions o;
  o.threads = bench_threads();
  cq::Context ctx(o);
  const int64_t C = st.range(0), H = st.range(1), k = st.range(2), s = st.range(3);
  cq::Tensor x = ctx.randn({1, C, H, H}), w = ctx.randn({C, 1, k, k});
  cq::Conv2dParams p = depthwise_params(C, k, s);
  auto ng = ctx.no_grad();
  for (auto _ : st) {
    cq::Tensor y = cq::conv2d(x, w, cq::Tensor(), p);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  st.SetBytesProcessed(st.iterations() * (x.numel() + x.numel() / (s * s)) * 4);
}

// Forward + backward (grad_x and grad_w) of the same.
void BM_DepthwiseFwdBwd(benchmark::State& st) {
  cq::ContextOptions o;
  o.threads = bench_threads();
  cq::Context ctx(o);
  const int64_t C = st.range(0), H = st.range(1), k = st.range(2), s = st.range(3);
  cq::Tensor x = ctx.randn({1, C, H, H}).set_requires_grad(), w = ctx.randn({C, 1, k, k}).set_requires_grad();
  cq::Conv2dParams p = depthwise_params(C, k, s);
  cq::Tensor g;
  for (auto _ : st) {
    cq::Tensor y = cq::conv2d(x, w, cq::Tensor(), p);
    if (!g.defined()) g = ctx.randn(y.shape());
    y.backward(g);
    benchmark::DoNotOptimize(x.grad().data_ptr());
    x.zero_grad();
    w.zero_grad();
  }
}

void BM_Depthwise3x3(benchmark::State& st) { BM_Depthwise(st); }
void BM_Depthwise3x3FwdBwd(benchmark::State& st) { BM_DepthwiseFwdBwd(st); }

// The peer shape, then EfficientNet-B2 shapes at 256x256 input (stride-2 3x3 and 5x5 included).
BENCHMARK(BM_Depthwise3x3)->Args({192, 128, 3, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Depthwise3x3FwdBwd)->Args({192, 128, 3, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Depthwise)
    ->Args({96, 128, 3, 2})
    ->Args({144, 64, 5, 2})
    ->Args({288, 32, 5, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_DepthwiseFwdBwd)
    ->Args({96, 128, 3, 2})
    ->Args({144, 64, 5, 2})
    ->Args({288, 32, 5, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
