// AVX-512 direct convolution micro-kernel for stride-1 convolutions over a zero-padded NCHW image: 8 output
// channels x 32 output columns of one output row per call, 16 zmm accumulators, the input row segments loaded in
// place (no im2col, no packing of the image). Compiled with -mavx512f -mfma only, called only after cpuid says
// AVX-512F (conv2d_cpu.cpp); raw pointers only (see kernels/matmul/gemm_ukernel.h for why no std:: here).
#include "kernels/conv2d/direct_conv.h"

#if defined(__AVX512F__) && defined(__FMA__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace cq::kernels::direct_conv {
namespace {

// out[i * ldo + j] = scale[i] * sum_k w[k * 8 + i] * x_k[j] + shift[i] (then ReLU if relu), i < m (<= 8),
// j < n (<= 32), where k runs over (c, ki, kj) in that order and x_k = x + c * plane + ki * wp + kj.
void row_tile(const float* w, const float* x, int64_t C, int64_t kh, int64_t kw, int64_t plane, int64_t wp,
              float* out, int64_t ldo, int m, int n, const float* scale, const float* shift, bool relu) {
  __m512 c0[8], c1[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int64_t c = 0; c < C; ++c) {
    const float* xc = x + c * plane;
    for (int64_t ki = 0; ki < kh; ++ki) {
      const float* xr = xc + ki * wp;
      for (int64_t kj = 0; kj < kw; ++kj) {
        __m512 b0 = _mm512_loadu_ps(xr + kj), b1 = _mm512_loadu_ps(xr + kj + 16);
#pragma GCC unroll 8
        for (int i = 0; i < 8; ++i) {
          __m512 a = _mm512_set1_ps(w[i]);
          c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
          c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
        w += 8;
      }
    }
  }
  __mmask16 m0 = n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
  __mmask16 m1 = n >= 32 ? __mmask16(0xFFFF) : n <= 16 ? __mmask16(0) : __mmask16((1u << (n - 16)) - 1);
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    if (i >= m) break;
    __m512 s = _mm512_set1_ps(scale[i]), t = _mm512_set1_ps(shift[i]);
    __m512 r0 = _mm512_fmadd_ps(s, c0[i], t), r1 = _mm512_fmadd_ps(s, c1[i], t);
    if (relu) {
      r0 = _mm512_max_ps(r0, zero);
      r1 = _mm512_max_ps(r1, zero);
    }
    _mm512_mask_storeu_ps(out + i * ldo, m0, r0);
    _mm512_mask_storeu_ps(out + i * ldo + 16, m1, r1);
  }
}

}  // namespace

RowTileFn row_tile_avx512() { return &row_tile; }

}  // namespace cq::kernels::direct_conv

#else

namespace cq::kernels::direct_conv {
RowTileFn row_tile_avx512() { return nullptr; }
}  // namespace cq::kernels::direct_conv

#endif
