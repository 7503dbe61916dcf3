// 8x8x8 histogram per 768x512 image and GRIS over N random 512-bin histograms, to read next to
// ../shared/peers/hist_gris.py (hist N calchist; gris 16000 gemm_inplace). Threads: CQ_BENCH_THREADS (default 2).
// Run GRIS alone (--benchmark_filter=Gris) for a meaningful peak RSS.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdlib>
#include <vector>

#include "refselect/gris.h"
#include "refselect/histogram.h"
#include "tensor/context.h"

namespace {
int bench_threads() {
  const char* e = std::getenv("CQ_BENCH_THREADS");
  return e ? std::atoi(e) : 2;
}
double peak_rss_mib() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

void BM_Hist8x8x8(benchmark::State& st) {
  cq::ContextOptions o;
  o.threads = bench_threads();
  cq::Context ctx(o);
  cq::Rng rng(0);
  cq::Tensor img = ctx.empty({512, 768, 3}, cq::DType::u8);
  uint8_t* p = img.data<uint8_t>();
  for (int64_t i = 0; i < img.numel(); ++i) p[i] = static_cast<uint8_t>(rng.below(256));
  std::vector<float> h(cq::dcin::kHistBins);
  const cq::dcin::HistOptions ho{cq::dcin::HistOrder::CvBgr, cq::dcin::HistNorm::L1};  // the peer normalises by sum
  for (auto _ : st) {
    cq::dcin::color_hist(img, h.data(), ho, o.threads);
    benchmark::DoNotOptimize(h.data());
  }
  st.SetLabel("768x512 threads=" + std::to_string(o.threads));
}
BENCHMARK(BM_Hist8x8x8)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_Gris(benchmark::State& st) {
  const int64_t N = st.range(0), D = 512;
  std::vector<float> X(static_cast<size_t>(N * D));
  cq::Rng rng(0);
  for (int64_t i = 0; i < N; ++i) {
    double s = 0;
    for (int64_t k = 0; k < D; ++k) s += X[i * D + k] = static_cast<float>(rng.uniform());
    for (int64_t k = 0; k < D; ++k) X[i * D + k] = static_cast<float>(X[i * D + k] / s);
  }
  const double base = peak_rss_mib();
  int64_t idx = -1;
  for (auto _ : st) {
    idx = cq::dcin::gris_select(X.data(), N, D, {1024, bench_threads()}).index;
    benchmark::DoNotOptimize(idx);
  }
  st.counters["argmin"] = static_cast<double>(idx);
  st.counters["rss_before_MiB"] = base;
  st.counters["peak_rss_MiB"] = peak_rss_mib();
}
BENCHMARK(BM_Gris)->Arg(2000)->Arg(16000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
}  // namespace
