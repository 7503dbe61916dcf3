// Colour transfer of one 768x512 RGB image toward precomputed reference statistics (as ../shared/peers/reinhard.py:
// forward conversion, statistics, matching, inverse, u8 output per image). Threads: CQ_BENCH_THREADS (default 2).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>

#include "colorxfer/colorxfer.h"
#include "tensor/context.h"

namespace {
int bench_threads() {
  const char* e = std::getenv("CQ_BENCH_THREADS");
  return e ? std::atoi(e) : 2;
}

// The peer's synthetic image: smooth colour waves plus N(0, 20) noise, clipped.
cq::Tensor synth(cq::Context& ctx, int seed, int H = 512, int W = 768) {
  cq::Rng rng(static_cast<uint64_t>(seed));
  cq::Tensor t = ctx.empty({H, W, 3}, cq::DType::u8);
  uint8_t* p = t.data<uint8_t>();
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const double base[3] = {128 + 100 * std::sin(x / 50.0 + seed), 128 + 90 * std::cos(y / 40.0),
                              128 + 80 * std::sin((x + y) / 70.0)};
      for (int c = 0; c < 3; ++c)
        p[(y * W + x) * 3 + c] = static_cast<uint8_t>(std::min(255.0, std::max(0.0, base[c] + rng.normal() * 20)));
    }
  return t;
}

void BM_ColorTransfer(benchmark::State& st) {
  cq::ContextOptions o;
  o.threads = st.range(1) ? static_cast<int>(st.range(1)) : bench_threads();
  cq::Context ctx(o);
  const auto space = st.range(0) == 0 ? cq::dcin::ColorSpace::LabReinhard : cq::dcin::ColorSpace::LabCv;
  cq::Tensor src = synth(ctx, 1), ref = synth(ctx, 2);
  const cq::dcin::ColorStats rs = cq::dcin::color_stats(ref, {space, -1});
  for (auto _ : st) {
    cq::Tensor out = cq::dcin::color_transfer(src, rs);
    benchmark::DoNotOptimize(out.data_ptr());
  }
  st.SetLabel(std::string(cq::dcin::color_space_name(space)) + " threads=" + std::to_string(o.threads));
}
// Args: {space (0 lab-reinhard, 1 lab-cv), threads (0 = CQ_BENCH_THREADS)}
BENCHMARK(BM_ColorTransfer)->Args({0, 0})->Args({1, 0})->Args({0, 1})->Args({1, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ColorStats(benchmark::State& st) {
  cq::ContextOptions o;
  o.threads = bench_threads();
  cq::Context ctx(o);
  const auto space = st.range(0) == 0 ? cq::dcin::ColorSpace::LabReinhard : cq::dcin::ColorSpace::LabCv;
  cq::Tensor src = synth(ctx, 1);
  for (auto _ : st) benchmark::DoNotOptimize(cq::dcin::color_stats(src, {space, -1}).mean[0]);
}
BENCHMARK(BM_ColorStats)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
}  // namespace
