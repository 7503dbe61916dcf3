// AVX-512 direct convolution micro-kernels for stride-1 convolutions over a zero-padded NCHW image: 8 output
// channels x NV*16 output columns of one output row per call (NV = 2 or 3: 16 or 24 zmm accumulators), the input
// row segments loaded in place (no im2col, no packing of the image). Why 8 x 48 where it fits: per (c, ki, kj) step
// the tile does 8*NV FMAs for NV vector loads and 8 weight broadcasts, and at 8 x 32 those loads (most of them
// splitting a cache line) kept the load ports as busy as the FMA ports. Compiled with -mavx512f -mfma only, called
// only after cpuid says AVX-512F (direct_conv.cpp); raw pointers only (see kernels/matmul/gemm_ukernel.h for why).
#include "kernels/conv2d/direct_conv.h"

#if defined(__AVX512F__) && defined(__FMA__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace cq::kernels::direct_conv {
namespace {

inline __mmask16 lane_mask(int n, int v) {
  int r = n - 16 * v;
  return r >= 16 ? __mmask16(0xFFFF) : r <= 0 ? __mmask16(0) : __mmask16((1u << r) - 1);
}

// One (c, ki) row of taps: for kj < KW (compile-time when KW > 0, else kw at run time).
template <int NV, int KW>
inline void taps(const float*& w, const float* xr, int64_t kw, __m512 (&acc)[8][NV]) {
  const int64_t n_kj = KW > 0 ? KW : kw;
#pragma GCC unroll 3
  for (int64_t kj = 0; kj < n_kj; ++kj) {
    __m512 b[NV];
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(xr + kj + 16 * v);
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      __m512 a = _mm512_set1_ps(w[i]);
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]);
    }
    w += 8;
  }
}

// out[i * ldo + j] (i < m <= 8, j < n <= 16 * NV) = sum_k w[k * 8 + i] * x_k[j], k over (c, ki, kj) in that order,
// x_k = x + c * plane + ki * wp + kj; started from out's values when kContinue (a later channel chunk of the same
// sum: float stores are exact, so the chunked sum is the unchunked one), then scale/shift/ReLU when kFinish.
template <int NV, int KW>
void row_tile(const float* w, const float* x, int64_t C, int64_t kh, int64_t kw, int64_t plane, int64_t wp,
              float* out, int64_t ldo, int m, int n, const float* scale, const float* shift, int flags) {
  __m512 acc[8][NV];
  __mmask16 mk[NV];
#pragma GCC unroll 3
  for (int v = 0; v < NV; ++v) mk[v] = lane_mask(n, v);
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v)
      acc[i][v] = (flags & kContinue) && i < m ? _mm512_maskz_loadu_ps(mk[v], out + i * ldo + 16 * v)
                                               : _mm512_setzero_ps();
  for (int64_t c = 0; c < C; ++c) {
    const float* xc = x + c * plane;
    for (int64_t ki = 0; ki < kh; ++ki) taps<NV, KW>(w, xc + ki * wp, kw, acc);
  }
  const bool finish = flags & kFinish, relu = flags & kRelu;
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    if (i >= m) break;
    __m512 s = _mm512_set1_ps(finish ? scale[i] : 1.0f), t = _mm512_set1_ps(finish ? shift[i] : 0.0f);
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) {
      __m512 r = finish ? _mm512_fmadd_ps(s, acc[i][v], t) : acc[i][v];
      if (finish && relu) r = _mm512_max_ps(r, zero);
      _mm512_mask_storeu_ps(out + i * ldo + 16 * v, mk[v], r);
    }
  }
}

}  // namespace

RowTileFn row_tile_avx512(int nv, int64_t kw) {
  if (kw == 3) return nv == 3 ? &row_tile<3, 3> : &row_tile<2, 3>;
  return nv == 3 ? &row_tile<3, 0> : &row_tile<2, 0>;
}

}  // namespace cq::kernels::direct_conv

#else

namespace cq::kernels::direct_conv {
RowTileFn row_tile_avx512(int, int64_t) { return nullptr; }
}  // namespace cq::kernels::direct_conv

#endif
