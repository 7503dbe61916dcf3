// See direct_conv.h. This file packs the weights into 8-channel panels, copies bands of input rows into a padded
// layout (overlapped with the arithmetic), groups output vectors into tiles and splits output rows over threads; the
// arithmetic is in direct_conv_avx512.cpp.
#include "kernels/conv2d/direct_conv.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/matmul/gemm.h"
#include "kernels/matmul/gemm_epilogue.h"
#include "tensor/error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace cq::kernels::direct_conv {

bool available() { return cpu_isa() == CpuIsa::avx512 && slot_tile_avx512(3) != nullptr; }

namespace {
constexpr int kMR = 8, kLanes = 16;
// Input bytes of one channel chunk's rows for a 48-wide tile: kept within about half of a 48 KiB L1 so the rows
// stay there while every 8-channel weight panel passes over them.
constexpr int64_t kChunkBytes = 20 * 1024;
// A thread's two band buffers together: about half of a 2 MiB L2, the rest for weights and output lines.
constexpr int64_t kBandBytes = int64_t(1) << 20;
constexpr int64_t kMaxBandRows = 8;

// Padded row length: every tile's columns plus the window, rounded to whole vectors so rows start 64-byte aligned.
int64_t padded_width(int64_t OW, int64_t kw) {
  int64_t vecs = std::max<int64_t>(2, (OW + kLanes - 1) / kLanes);
  return (vecs * kLanes + kw - 1 + kLanes - 1) / kLanes * kLanes;
}

// Output rows per band: a thread copies a band's input rows (plus the window's halo) into a padded buffer in L2;
// two buffers per thread, so the next band is copied while this one is computed.
int64_t band_rows(int64_t C, int64_t OH, int64_t OW, int64_t kh, int64_t kw, int threads) {
  const int64_t row_bytes = C * padded_width(OW, kw) * int64_t(sizeof(float));
  const int64_t fit = kBandBytes / 2 / row_bytes - (kh - 1);
  return std::clamp<int64_t>(std::min(fit, (OH + threads - 1) / std::max(threads, 1)), 1, kMaxBandRows);
}

int64_t band_floats(int64_t C, int64_t OH, int64_t OW, int64_t kh, int64_t kw, int threads) {
  return (C * (band_rows(C, OH, OW, kh, kw, threads) + kh - 1) * padded_width(OW, kw) + kLanes - 1) / kLanes * kLanes;
}

// The rows of one band in the padded layout: buf[c][r][wp], r < hb, source row r0 - pt + r, zeros outside x.
// Rows are numbered q = c * hb + r (channel-major: a channel's rows are one contiguous run of the source).
struct BandRows {
  const float* x;
  int64_t H, W, pt, pl, wp;
  float* buf = nullptr;
  int64_t r0 = 0, hb = 0, C = 0;

  int64_t count() const { return C * hb; }
  const float* source(int64_t q) const {
    const int64_t ih = r0 + q % hb - pt;
    return ih < 0 || ih >= H ? nullptr : x + ((q / hb) * H + ih) * W;
  }
  void copy(int64_t q) const {
    float* d = buf + q * wp;  // (c * hb + r) * wp
    const float* s = source(q);
    if (!s) {
      std::memset(d, 0, sizeof(float) * wp);
      return;
    }
    const int64_t n = std::min<int64_t>(W, wp - pl);  // source columns that fit
    std::memset(d, 0, sizeof(float) * pl);
    std::memcpy(d + pl, s, sizeof(float) * n);
    std::memset(d + pl + n, 0, sizeof(float) * (wp - pl - n));
  }
};
}  // namespace

int64_t scratch_floats(int64_t C, int64_t CO, int64_t OH, int64_t OW, int64_t kh, int64_t kw, int threads) {
  const int64_t panels = (CO + kMR - 1) / kMR;
  return (panels * kMR * C * kh * kw + kLanes - 1) / kLanes * kLanes +
         2 * std::max(threads, 1) * band_floats(C, OH, OW, kh, kw, threads) + kLanes;
}

void conv_stride1(const float* x, int64_t C, int64_t H, int64_t W, const float* w, int64_t CO, int64_t kh, int64_t kw,
                  int64_t pt, int64_t pl, float* out, int64_t OH, int64_t OW, const float* scale, const float* shift,
                  int act, float* scratch, int threads) {
  SlotTileFn tile = slot_tile_avx512(kw);
  CQ_CHECK(tile && cpu_isa() == CpuIsa::avx512, "direct conv: needs AVX-512");
  CQ_CHECK(pt >= 0 && pl >= 0, "direct conv: negative padding");
  threads = std::max(threads, 1);
  const int64_t wp = padded_width(OW, kw);
  // Weights as 8-channel panels at the (64-byte aligned) start of the scratch: wk[panel][k][i], k = (c, ki, kj),
  // zero rows past CO. Then two band buffers per thread.
  const int64_t K = C * kh * kw, panels = (CO + kMR - 1) / kMR;
  float* wk = scratch + (kLanes - (reinterpret_cast<uintptr_t>(scratch) / sizeof(float)) % kLanes) % kLanes;
  for (int64_t co = CO; co < panels * kMR; ++co)
    for (int64_t k = 0; k < K; ++k) wk[(co / kMR * K + k) * kMR + co % kMR] = 0.0f;
  for (int64_t co = 0; co < CO; ++co)
    for (int64_t k = 0; k < K; ++k) wk[(co / kMR * K + k) * kMR + co % kMR] = w[co * K + k];
  float* bufs = wk + (panels * kMR * K + kLanes - 1) / kLanes * kLanes;
  const int64_t R = band_rows(C, OH, OW, kh, kw, threads), bstride = band_floats(C, OH, OW, kh, kw, threads);
  std::vector<float> ones(static_cast<size_t>(CO), 1.0f), zeros(static_cast<size_t>(CO), 0.0f);
  const float* sc = scale ? scale : ones.data();
  const float* sh = shift ? shift : zeros.data();

  // Input channels in chunks whose rows stay in L1 across the weight panels (see kChunkBytes).
  const int64_t chunk_max = std::max<int64_t>(1, kChunkBytes / (kh * (3 * kLanes + kw - 1) * int64_t(sizeof(float))));
  const int64_t nchunks = (C + chunk_max - 1) / chunk_max, chunk = (C + nchunks - 1) / nchunks;
  const int relu = act == 1 ? kRelu : 0;
  const int64_t nbands = (OH + R - 1) / R;
  const bool par = threads > 1 && CO * K * OH * OW >= (int64_t(1) << 18);
  auto band_of = [&](int64_t band, float* buf) {
    const int64_t r0 = band * R;
    return BandRows{x, H, W, pt, pl, wp, buf, r0, std::min(OH, r0 + R) - r0 + kh - 1, C};
  };
#pragma omp parallel num_threads(threads) if (par)
  {
    int tid = 0, nt = 1;
#ifdef _OPENMP
    tid = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    // A contiguous range of bands per thread (the split of a static schedule); results do not depend on it.
    const int64_t per = (nbands + nt - 1) / nt, b_lo = std::min(nbands, tid * per), b_hi = std::min(nbands, b_lo + per);
    float* buf[2] = {bufs + (2 * tid) * bstride, bufs + (2 * tid + 1) * bstride};
    if (b_lo < b_hi) {
      BandRows first = band_of(b_lo, buf[0]);
      for (int64_t q = 0; q < first.count(); ++q) first.copy(q);
    }
    for (int64_t band = b_lo; band < b_hi; ++band) {
      const BandRows cur = band_of(band, buf[(band - b_lo) % 2]);
      const BandRows next = band + 1 < b_hi ? band_of(band + 1, buf[(band - b_lo + 1) % 2]) : BandRows{};
      const int64_t r0 = cur.r0, r1 = r0 + cur.hb - (kh - 1), plane = cur.hb * wp;
      // The band's output vectors (16 columns of one row) in row-major order, three per tile: a row's last one or
      // two join the next row's first (unused slots of the band's last tile have an empty mask).
      const int64_t vecs = (OW + kLanes - 1) / kLanes, nslots = (r1 - r0) * vecs, ntiles = (nslots + 2) / 3;
      // The next band's rows, a share after each tile, so reading the source from memory is spread over the
      // arithmetic instead of preceding it. (A software prefetch of each share one tile ahead was measured slower:
      // GCC had been deleting it as a loop without side effects, and once forced it cost ~3 % here.)
      const int64_t share = (next.count() + ntiles - 1) / ntiles;
      int64_t copied = 0;
      for (int64_t s0 = 0; s0 < nslots; s0 += 3) {
        int64_t xoff[3], ooff[3];
        unsigned mask[3];
        int cols[3];
        for (int v = 0; v < 3; ++v) {
          const int64_t sl = std::min(s0 + v, nslots - 1), oh = r0 + sl / vecs, ow0 = sl % vecs * kLanes;
          xoff[v] = (oh - r0) * wp + ow0;
          ooff[v] = oh * OW + ow0;
          cols[v] = s0 + v < nslots ? static_cast<int>(std::min<int64_t>(kLanes, OW - ow0)) : 0;
          mask[v] = (1u << cols[v]) - 1;
        }
        for (int64_t c0 = 0; c0 < C; c0 += chunk) {
          const int64_t cc = std::min(chunk, C - c0);
          const int flags = (c0 > 0 ? kContinue : 0) | (c0 + cc == C ? kFinish | relu : 0);
          for (int64_t p = 0; p < panels; ++p) {
            const int m = static_cast<int>(std::min<int64_t>(kMR, CO - p * kMR));
            float* o = out + p * kMR * OH * OW;
            tile(wk + (p * K + c0 * kh * kw) * kMR, cur.buf + c0 * plane, xoff, cc, kh, kw, plane, wp, o, ooff, mask,
                 OH * OW, m, sc + p * kMR, sh + p * kMR, flags);
            if (act == 2 && (flags & kFinish))
              for (int v = 0; v < 3; ++v)
                if (cols[v] > 0)
                  gemm_detail::row_epilogue_f32(o + ooff[v], OH * OW, m, cols[v], nullptr, nullptr, nullptr, 2);
          }
        }
        for (const int64_t e = std::min(next.count(), copied + share); copied < e; ++copied) next.copy(copied);
      }
      for (; copied < next.count(); ++copied) next.copy(copied);
    }
  }
}

}  // namespace cq::kernels::direct_conv
