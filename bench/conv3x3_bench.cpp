// Dense convolutions through the public op cq::conv2d (whatever kernel is current): 3x3 64->64, stride 1, pad 1 on
// 1x64x256x256, and the U-Net's 1x1 convs, forward and forward+backward (input and weight gradients), as issue #6's
// PyTorch channels_last figures (bench/peers/torch_micro.py measures the peer). GFLOP/s counts the useful MACs x2
// (forward 2*Cout*Cin*k*k*H*W, backward twice that). Depthwise convs are bench/conv_bench.cpp.
#include "bench/bench_util.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/elementwise/elementwise.h"

namespace {

struct ConvCase {
  cq::Context ctx;
  cq::Tensor x, w, g;
  cq::Conv2dParams p;
  double flops = 0;  // forward
  ConvCase(int threads, int64_t n, int64_t cin, int64_t cout, int64_t h, int64_t wd, int64_t k)
      : ctx(cq::bench::make_ctx(threads)) {
    x = ctx.randn({n, cin, h, wd});
    w = ctx.randn({cout, cin, k, k}) * (1.0 / double(cin * k * k));
    p.pad_l = p.pad_r = p.pad_t = p.pad_b = k / 2;
    g = ctx.randn({n, cout, h, wd});
    flops = 2.0 * double(n * cout * cin * k * k * h * wd);
  }
};

void run_conv(benchmark::State& st, ConvCase& c, bool backward) {
  if (backward) {
    c.x.set_requires_grad();
    c.w.set_requires_grad();
  }
  for (auto _ : st) {
    cq::Tensor y = cq::conv2d(c.x, c.w, cq::Tensor(), c.p);
    if (backward) {
      y.backward(c.g);
      benchmark::DoNotOptimize(c.w.grad().data_ptr());
      c.x.zero_grad();
      c.w.zero_grad();
    } else {
      benchmark::DoNotOptimize(y.data_ptr());
    }
  }
  cq::bench::set_flop_counters(st, backward ? 3 * c.flops : c.flops, c.ctx.threads());
  cq::bench::set_memory_counter(st, c.ctx);
}

// Args: {backward (0/1), threads (0 = CQ_BENCH_THREADS)}
void BM_Conv3x3_64x256(benchmark::State& st) {
  const int t = st.range(1) ? int(st.range(1)) : cq::bench::env_threads();
  ConvCase c(t, 1, 64, 64, 256, 256, 3);
  run_conv(st, c, st.range(0) != 0);
}
BENCHMARK(BM_Conv3x3_64x256)->ArgNames({"bwd", "threads"})->Args({0, 0})->Args({1, 0})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// The U-Net decoder's 3x3 convs at training size (batch 2, 256x256 input): {cin, cout, hw}, forward only. These
// shapes set which of Winograd, the direct kernel and the implicit GEMM conv2d picks (kernels/conv2d/winograd.h).
void BM_Conv3x3Decoder(benchmark::State& st) {
  ConvCase c(cq::bench::env_threads(), 2, st.range(0), st.range(1), st.range(2), st.range(2), 3);
  run_conv(st, c, false);
}
BENCHMARK(BM_Conv3x3Decoder)->ArgNames({"cin", "cout", "hw"})
    ->Args({472, 256, 16})->Args({256, 256, 16})->Args({304, 128, 32})->Args({128, 128, 32})
    ->Args({152, 64, 64})->Args({64, 64, 64})->Args({96, 32, 128})->Args({32, 32, 128})
    ->Args({32, 16, 256})->Args({16, 16, 256})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// 1x1 convolutions of the U-Net's MBConv blocks at training size (batch 2, 256x256 input): expansion 24->144 and
// projection 144->24 at 64x64 (stage 2), expansion 88->528 at 16x16 (stage 4). A 1x1 conv is a plain GEMM.
// Args: {cin, cout, hw, backward}
void BM_Conv1x1(benchmark::State& st) {
  ConvCase c(cq::bench::env_threads(), 2, st.range(0), st.range(1), st.range(2), st.range(2), 1);
  run_conv(st, c, st.range(3) != 0);
}
BENCHMARK(BM_Conv1x1)->ArgNames({"cin", "cout", "hw", "bwd"})
    ->Args({24, 144, 64, 0})->Args({144, 24, 64, 0})->Args({88, 528, 16, 0})
    ->Args({24, 144, 64, 1})->Args({144, 24, 64, 1})->Args({88, 528, 16, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
