// 8x8x8 histograms: per-thread sub-histograms (4 interleaved tables per thread so consecutive equal bins do not
// serialise on one counter), merged in thread order; counts are integers so the result never depends on threads.
#include "refselect/histogram.h"

#include <omp.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "refselect/refselect_cuda.h"
#include "tensor/backend.h"
#include "tensor/runtime.h"

namespace cq::dcin {

namespace {
void check_rgb(const Tensor& image, const std::string& what) {
  CQ_CHECK(image.defined(), what, ": no image");
  CQ_CHECK(image.dtype() == DType::u8 && image.dim() == 3 && image.size(2) == 3, what,
           ": expected a u8 RGB image [H,W,3], got ", image.describe());
  CQ_CHECK(image.is_contiguous(), what, ": histogram needs a contiguous image, got ", image.describe());
}

template <int S0, int S2>  // shifts of byte 0 and byte 2 (byte 1 always << 3)
void count_range(const uint8_t* p, int64_t n, uint32_t* t /* 4 x 512 */) {
  int64_t i = 0;
  auto bin = [](const uint8_t* q) { return ((q[0] >> 5) << S0) | ((q[1] >> 5) << 3) | ((q[2] >> 5) << S2); };
  for (; i + 4 <= n; i += 4, p += 12) {
    t[bin(p)]++;
    t[512 + bin(p + 3)]++;
    t[1024 + bin(p + 6)]++;
    t[1536 + bin(p + 9)]++;
  }
  for (; i < n; ++i, p += 3) t[bin(p)]++;
}
}  // namespace

void color_hist_counts(const Tensor& image, int64_t* counts, HistOrder order, int threads, const std::string& what) {
  check_rgb(image, what);
  if (image.device().is_cuda()) {
    CQ_CUDA_CALL("color_hist", cudaimpl::hist_counts(image, counts, order));
    return;
  }
  const int64_t n = image.size(0) * image.size(1);
  const uint8_t* px = image.data<uint8_t>();
  // Small images are not worth waking threads for; the counts are the same either way.
  const int nt = n < (1 << 16) ? 1 : std::max(1, threads);
  std::vector<uint32_t> tabs(static_cast<size_t>(nt) * 4 * kHistBins, 0);
  // uint32 per sub-table: at most n/4 + 3 hits each, so images up to ~16 G pixels are safe.
  CQ_CHECK(n / 4 + 4 < (int64_t(1) << 32), what, ": image too large for the histogram (", n, " pixels)");
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t b = n * tid / T, e = n * (tid + 1) / T;
    uint32_t* t = tabs.data() + static_cast<size_t>(tid) * 4 * kHistBins;
    if (order == HistOrder::CvBgr)
      count_range<0, 6>(px + 3 * b, e - b, t);  // byte 0 = R fastest, byte 2 = B slowest
    else
      count_range<6, 0>(px + 3 * b, e - b, t);
  }
  for (int k = 0; k < kHistBins; ++k) {
    int64_t s = 0;
    for (size_t j = 0; j < static_cast<size_t>(nt) * 4; ++j) s += tabs[j * kHistBins + k];
    counts[k] = s;
  }
}

void color_hist(const Tensor& image, float* out, const HistOptions& opts, int threads, const std::string& what) {
  int64_t counts[kHistBins];
  color_hist_counts(image, counts, opts.order, threads, what);
  double norm = 0;
  for (int k = 0; k < kHistBins; ++k)
    norm += opts.norm == HistNorm::L2 ? static_cast<double>(counts[k]) * counts[k] : static_cast<double>(counts[k]);
  CQ_CHECK(norm > 0, what, ": empty image, no histogram");
  if (opts.norm == HistNorm::L2) norm = std::sqrt(norm);
  for (int k = 0; k < kHistBins; ++k) out[k] = static_cast<float>(static_cast<double>(counts[k]) / norm);
}

Tensor color_hist(const Tensor& image, const HistOptions& opts, const std::string& what) {
  check_rgb(image, what);
  Tensor out = Tensor::empty(image.runtime_ptr(), {kHistBins}, DType::f32, Device::cpu());
  color_hist(image, out.data<float>(), opts, image.runtime().threads(), what);
  return out;
}

}  // namespace cq::dcin
