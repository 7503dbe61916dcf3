// Model forward timings at batch 1 (eval mode, no graph), to be read next to the PyTorch peer
// (bench/compare_models.sh runs both in one sitting). Threads: CQ_BENCH_THREADS (default 2, as the peer).
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "models/registry.h"
#include "models/swinv2.h"
#include "tensor/context.h"

namespace {
int bench_threads() {
  const char* e = std::getenv("CQ_BENCH_THREADS");
  return e ? std::atoi(e) : 2;
}

void BM_UnetEffB2Eval(benchmark::State& st) {
  cq::ContextOptions o;
  o.threads = bench_threads();
  cq::Context ctx(o);
  auto model = cq::models::make_model(ctx, "unet_efficientnet_b2", 5);
  model->eval();
  cq::Tensor x = ctx.randn({1, 3, st.range(0), st.range(1)});
  auto ng = ctx.no_grad();
  for (auto _ : st) {
    cq::Tensor y = model->forward(x);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  st.counters["peak_MiB"] = static_cast<double>(ctx.memory().peak) / (1 << 20);
}
BENCHMARK(BM_UnetEffB2Eval)->Args({256, 256})->Args({512, 768})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SwinV2TinyEmbed(benchmark::State& st) {
  cq::ContextOptions o;
  o.threads = bench_threads();
  cq::Context ctx(o);
  auto model = cq::models::swinv2(ctx, cq::models::swinv2_preset("swin_v2_t"));
  model->eval();
  cq::Tensor x = ctx.randn({1, 3, st.range(0), st.range(0)});
  auto ng = ctx.no_grad();
  for (auto _ : st) {
    cq::Tensor e = model->embed(x);
    benchmark::DoNotOptimize(e.data_ptr());
  }
  st.counters["peak_MiB"] = static_cast<double>(ctx.memory().peak) / (1 << 20);
}
BENCHMARK(BM_SwinV2TinyEmbed)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
