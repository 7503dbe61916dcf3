// See direct_conv.h. This file pads the image, packs the weights into 8-channel panels and splits output rows over
// threads; the arithmetic is in direct_conv_avx512.cpp.
#include "kernels/conv2d/direct_conv.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/matmul/gemm.h"
#include "kernels/matmul/gemm_epilogue.h"
#include "tensor/error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace cq::kernels::direct_conv {

bool available() { return cpu_isa() == CpuIsa::avx512 && row_tile_avx512() != nullptr; }

namespace {
constexpr int kMR = 8, kNR = 32;
}  // namespace

int64_t scratch_floats(int64_t C, int64_t CO, int64_t OH, int64_t OW, int64_t kh, int64_t kw) {
  const int64_t tiles = (OW + kNR - 1) / kNR;
  const int64_t panels = (CO + kMR - 1) / kMR;
  return C * (OH + kh - 1) * (tiles * kNR + kw - 1) + panels * kMR * C * kh * kw;
}

void conv_stride1(const float* x, int64_t C, int64_t H, int64_t W, const float* w, int64_t CO, int64_t kh, int64_t kw,
                  int64_t pt, int64_t pl, float* out, int64_t OH, int64_t OW, const float* scale, const float* shift,
                  int act, float* scratch, int threads) {
  RowTileFn tile = row_tile_avx512();
  CQ_CHECK(tile && cpu_isa() == CpuIsa::avx512, "direct conv: needs AVX-512");
  CQ_CHECK(pt >= 0 && pl >= 0, "direct conv: negative padding");
  // Padded image: rows cover every (oh + ki), columns every (ow + kj) of whole 32-wide tiles, zeros outside x.
  const int64_t tiles = (OW + kNR - 1) / kNR;
  const int64_t hp = OH + kh - 1, wp = tiles * kNR + kw - 1;
  const int64_t plane = hp * wp;
  float* xp = scratch;
  const bool par_pad = threads > 1 && C * plane >= (int64_t(1) << 16);
#pragma omp parallel for num_threads(threads) schedule(static) if (par_pad)
  for (int64_t c = 0; c < C; ++c)
    for (int64_t r = 0; r < hp; ++r) {
      float* d = xp + c * plane + r * wp;
      int64_t ih = r - pt;
      if (ih < 0 || ih >= H) {
        std::memset(d, 0, sizeof(float) * wp);
        continue;
      }
      int64_t n = std::min<int64_t>(W, wp - pl);  // source columns that fit
      std::memset(d, 0, sizeof(float) * pl);
      std::memcpy(d + pl, x + (c * H + ih) * W, sizeof(float) * n);
      std::memset(d + pl + n, 0, sizeof(float) * (wp - pl - n));
    }
  // Weights as 8-channel panels after the image: wk[panel][k][i], k = (c, ki, kj), zero rows past CO.
  const int64_t K = C * kh * kw, panels = (CO + kMR - 1) / kMR;
  float* wk = xp + C * plane;
  for (int64_t co = CO; co < panels * kMR; ++co)
    for (int64_t k = 0; k < K; ++k) wk[(co / kMR * K + k) * kMR + co % kMR] = 0.0f;
  for (int64_t co = 0; co < CO; ++co)
    for (int64_t k = 0; k < K; ++k) wk[(co / kMR * K + k) * kMR + co % kMR] = w[co * K + k];
  std::vector<float> ones(static_cast<size_t>(CO), 1.0f), zeros(static_cast<size_t>(CO), 0.0f);
  const float* sc = scale ? scale : ones.data();
  const float* sh = shift ? shift : zeros.data();

  const int64_t work = OH * tiles;
  const bool par = threads > 1 && CO * K * OH * OW >= (int64_t(1) << 18);
#pragma omp parallel for num_threads(threads) schedule(static) if (par)
  for (int64_t job = 0; job < work; ++job) {
    int64_t oh = job / tiles, t = job % tiles, ow0 = t * kNR;
    int n = static_cast<int>(std::min<int64_t>(kNR, OW - ow0));
    const float* xrow = xp + oh * wp + ow0;  // (c, ki, kj) offsets added by the kernel
    for (int64_t p = 0; p < panels; ++p) {
      int m = static_cast<int>(std::min<int64_t>(kMR, CO - p * kMR));
      float* o = out + (p * kMR * OH + oh) * OW + ow0;
      tile(wk + p * K * kMR, xrow, C, kh, kw, plane, wp, o, OH * OW, m, n, sc + p * kMR, sh + p * kMR,
           act == 1);
      if (act == 2) gemm_detail::row_epilogue_f32(o, OH * OW, m, n, nullptr, nullptr, nullptr, 2);
    }
  }
}

}  // namespace cq::kernels::direct_conv
