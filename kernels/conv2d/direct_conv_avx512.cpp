// AVX-512 direct convolution micro-kernel for stride-1 convolutions over a zero-padded NCHW image: 8 output
// channels x 3 "slots" of 16 output columns per call (24 zmm accumulators), the input row segments loaded in place
// (no im2col, no packing of the image). A slot is any 16 columns of any output row, so a row's last one or two
// vectors join the next row's first ones and every call does full work (a 256-wide row is 16 vectors, not a
// multiple of 3). Why 3 vectors: per (c, ki, kj) step the tile does 24 FMAs for 3 vector loads and 8 weight
// broadcasts; at 8 x 2 vectors those loads (most of them splitting a cache line) kept the load ports as busy as the
// FMA ports (in-cache: 8 x 3 runs at ~195 GFLOP/s per core here, 8 x 2 at ~170). Compiled with -mavx512f -mfma only, called
// only after cpuid says AVX-512F (direct_conv.cpp); raw pointers only (see kernels/matmul/gemm_ukernel.h for why).
#include "kernels/conv2d/direct_conv.h"

#if defined(__AVX512F__) && defined(__FMA__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace cq::kernels::direct_conv {
namespace {

// One (c, ki) row of taps: for kj < KW (compile-time when KW > 0, else kw at run time); vector v reads xr + xo[v].
template <int KW>
inline void taps(const float*& w, const float* xr, const int64_t (&xo)[3], int64_t kw, __m512 (&acc)[8][3]) {
  const int64_t n_kj = KW > 0 ? KW : kw;
#pragma GCC unroll 3
  for (int64_t kj = 0; kj < n_kj; ++kj) {
    __m512 b[3];
#pragma GCC unroll 3
    for (int v = 0; v < 3; ++v) b[v] = _mm512_loadu_ps(xr + xo[v] + kj);
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      __m512 a = _mm512_set1_ps(w[i]);
#pragma GCC unroll 3
      for (int v = 0; v < 3; ++v) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]);
    }
    w += 8;
  }
}

// out[i * ldo + oo[v] + j] (i < m <= 8, j < 16 where bit j of mask[v] is set) = sum_k w[k * 8 + i] * x_k[xo[v] + j],
// k over (c, ki, kj) in that order, x_k = x + c * plane + ki * wp + kj; started from out's values when kContinue (a
// later channel chunk of the same sum: float stores are exact, so the chunked sum is the unchunked one), then
// scale/shift/ReLU when kFinish. Unset mask lanes are neither read from out nor written.
template <int KW>
void slot_tile(const float* w, const float* x, const int64_t* xoff, int64_t C, int64_t kh, int64_t kw, int64_t plane,
               int64_t wp, float* out, const int64_t* ooff, const unsigned* mask, int64_t ldo, int m,
               const float* scale, const float* shift, int flags) {
  __m512 acc[8][3];
  __mmask16 mk[3];
  int64_t xo[3], oo[3];
#pragma GCC unroll 3
  for (int v = 0; v < 3; ++v) {
    mk[v] = static_cast<__mmask16>(mask[v]);
    xo[v] = xoff[v];
    oo[v] = ooff[v];
  }
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < 3; ++v)
      acc[i][v] = (flags & kContinue) && i < m ? _mm512_maskz_loadu_ps(mk[v], out + i * ldo + oo[v])
                                               : _mm512_setzero_ps();
  for (int64_t c = 0; c < C; ++c) {
    const float* xc = x + c * plane;
    for (int64_t ki = 0; ki < kh; ++ki) taps<KW>(w, xc + ki * wp, xo, kw, acc);
  }
  const bool finish = flags & kFinish, relu = flags & kRelu;
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    if (i >= m) break;
    __m512 s = _mm512_set1_ps(finish ? scale[i] : 1.0f), t = _mm512_set1_ps(finish ? shift[i] : 0.0f);
#pragma GCC unroll 3
    for (int v = 0; v < 3; ++v) {
      __m512 r = finish ? _mm512_fmadd_ps(s, acc[i][v], t) : acc[i][v];
      if (finish && relu) r = _mm512_max_ps(r, zero);
      _mm512_mask_storeu_ps(out + i * ldo + oo[v], mk[v], r);
    }
  }
}

}  // namespace

SlotTileFn slot_tile_avx512(int64_t kw) { return kw == 3 ? &slot_tile<3> : &slot_tile<0>; }

}  // namespace cq::kernels::direct_conv

#else

namespace cq::kernels::direct_conv {
SlotTileFn slot_tile_avx512(int64_t) { return nullptr; }
}  // namespace cq::kernels::direct_conv

#endif
