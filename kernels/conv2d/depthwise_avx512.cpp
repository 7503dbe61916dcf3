// AVX-512 depthwise "same" convolution of one plane without a padded copy (kernels/conv2d/depthwise_cpu.cpp uses it
// for stride 1, square 3x3 / 5x5 kernels with padding K/2, the EfficientNet case: forward, grad-input and
// grad-weight).
//
// Why: the plane copy into a zero-padded buffer and the convolution over it run one after the other per plane, so
// the memory streams of the copy and the arithmetic do not overlap, and the buffer (a 128x128 plane is 66 KiB) is
// read back from L2. Here the taps read the source rows in place; the zero padding comes from masked loads (lanes
// outside the row load 0, and AVX-512 suppresses faults on masked-off lanes) and from skipping rows outside the
// plane. Per output element the taps are summed in the same (ki, kj) order from the bias, with one FMA each, as the
// buffered loop; a skipped row's taps would have added w * 0, so only the sign of an exact zero can differ.
// Compiled with -mavx512f -mfma; called only when the CPU has AVX-512F (gemm's cpu_isa()).
#include <cstdint>

#if defined(__AVX512F__) && defined(__FMA__)
#include <immintrin.h>

namespace cq::kernels {
namespace {

// Lanes l with 0 <= x0 + l + d < W and l < n: the valid loads of a row segment shifted by d (d = kj - P).
inline __mmask16 lane_mask(int64_t x0, int64_t d, int64_t W, int64_t n) {
  int64_t lo = -(x0 + d), hi = W - (x0 + d);
  if (lo < 0) lo = 0;
  if (hi > n) hi = n;
  if (hi <= lo) return 0;
  const uint32_t bits = (hi >= 16 ? 0xFFFFu : ((1u << hi) - 1u)) & ~((1u << lo) - 1u);
  return static_cast<__mmask16>(bits);
}

constexpr int64_t kMaxStrips = 512;  // planes up to 8192 columns; wider ones take the buffered path

// Per 16-column strip of a W-wide row: the load mask of each horizontal tap kj (shift kj - K/2), then the store mask.
template <int K>
void strip_masks(int64_t W, __mmask16 (*masks)[K + 1]) {
  for (int64_t s = 0; s < (W + 15) / 16; ++s) {
    const int64_t x0 = s * 16, n = W - x0 < 16 ? W - x0 : 16;
    for (int kj = 0; kj < K; ++kj) masks[s][kj] = lane_mask(x0, kj - K / 2, W, n);
    masks[s][K] = static_cast<__mmask16>(n >= 16 ? 0xFFFFu : ((1u << n) - 1u));
  }
}

template <int K>
void same_plane(const float* src, int64_t H, int64_t W, const float* w, float bias, float* out) {
  constexpr int P = K / 2;
  __m512 wv[K * K];
  for (int t = 0; t < K * K; ++t) wv[t] = _mm512_set1_ps(w[t]);
  const __m512 vb = _mm512_set1_ps(bias);
  const int64_t strips = (W + 15) / 16;
  __mmask16 masks[kMaxStrips][K + 1];
  strip_masks<K>(W, masks);
  // Row by row, so the source streams through once in memory order.
  for (int64_t y = 0; y < H; ++y) {
    for (int64_t s = 0; s < strips; ++s) {
      const int64_t x0 = s * 16;
      __m512 acc = vb;
      for (int ki = 0; ki < K; ++ki) {
        const int64_t yy = y + ki - P;
        if (yy < 0 || yy >= H) continue;
        // The segment starting at column x0 - P; lanes outside the row are masked off (never read).
        const float* row = src + yy * W + x0 - P;
#pragma GCC unroll 5
        for (int kj = 0; kj < K; ++kj)
          acc = _mm512_fmadd_ps(wv[ki * K + kj], _mm512_maskz_loadu_ps(masks[s][kj], row + kj), acc);
      }
      _mm512_mask_storeu_ps(out + y * W + x0, masks[s][K], acc);
    }
  }
}

// Weight-gradient lanes of one plane: a[t] += g * tap-t window of x, a[K*K] += g, lane = column % 16, row by row and
// strip by strip (the buffered wgrad's order).
template <int K>
void same_wgrad(const float* x, const float* g, int64_t H, int64_t W, float* acc) {
  constexpr int P = K / 2, KK = K * K + 1;
  __m512 a[KK];
  for (int t = 0; t < KK; ++t) a[t] = _mm512_loadu_ps(acc + t * 16);
  const int64_t strips = (W + 15) / 16;
  __mmask16 masks[kMaxStrips][K + 1];
  strip_masks<K>(W, masks);
  for (int64_t y = 0; y < H; ++y) {
    for (int64_t s = 0; s < strips; ++s) {
      const int64_t x0 = s * 16;
      const __m512 gv = _mm512_maskz_loadu_ps(masks[s][K], g + y * W + x0);
      for (int ki = 0; ki < K; ++ki) {
        const int64_t yy = y + ki - P;
        if (yy < 0 || yy >= H) continue;
        const float* row = x + yy * W + x0 - P;
#pragma GCC unroll 5
        for (int kj = 0; kj < K; ++kj)
          a[ki * K + kj] = _mm512_fmadd_ps(gv, _mm512_maskz_loadu_ps(masks[s][kj], row + kj), a[ki * K + kj]);
      }
      a[KK - 1] = _mm512_add_ps(a[KK - 1], gv);
    }
  }
  for (int t = 0; t < KK; ++t) _mm512_storeu_ps(acc + t * 16, a[t]);
}

}  // namespace

bool depthwise_same_wgrad_avx512(const float* x, const float* g, int64_t H, int64_t W, int K, float* acc) {
  if (W > kMaxStrips * 16) return false;
  if (K == 3) return same_wgrad<3>(x, g, H, W, acc), true;
  if (K == 5) return same_wgrad<5>(x, g, H, W, acc), true;
  return false;
}

bool depthwise_same_plane_avx512(const float* src, int64_t H, int64_t W, int K, const float* w, float bias,
                                 float* out) {
  if (W > kMaxStrips * 16) return false;
  if (K == 3) return same_plane<3>(src, H, W, w, bias, out), true;
  if (K == 5) return same_plane<5>(src, H, W, w, bias, out), true;
  return false;
}

}  // namespace cq::kernels

#else

namespace cq::kernels {
bool depthwise_same_plane_avx512(const float*, int64_t, int64_t, int, const float*, float, float*) { return false; }
bool depthwise_same_wgrad_avx512(const float*, const float*, int64_t, int64_t, int, float*) { return false; }
}  // namespace cq::kernels

#endif
