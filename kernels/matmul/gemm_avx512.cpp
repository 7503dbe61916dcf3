// AVX-512 micro-kernels: 8 rows x 2 zmm columns (8x32 float, 8x16 double) = 16 accumulators, leaving registers for
// the two B vectors and the broadcast A element. 8 rows fit the channel counts of the models (multiples of 8), and
// column edges use masked loads/stores so partial tiles run the same code. Compiled with -mavx512f -mfma only; called
// only after cpuid says AVX-512F is present (gemm_cpu.cpp). No std:: templates here (see gemm_ukernel.h).
#include "kernels/matmul/gemm_ukernel.h"

#if defined(__AVX512F__) && defined(__FMA__)
// GCC 12's avx512fintrin.h trips -W(maybe-)uninitialized inside _mm512_reduce_add_ps and the gathers (false
// positives on the header's own undefined-vector temporaries), reported where they are inlined: off for this file.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace cq::kernels::gemm_detail {
namespace {

constexpr int kMR = 8;

struct F32 {
  using T = float;
  using V = __m512;
  using M = __mmask16;
  static constexpr int W = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V bcast(const T* p) { return _mm512_set1_ps(*p); }
  static V set1(T x) { return _mm512_set1_ps(x); }
  static V load(const T* p) { return _mm512_load_ps(p); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V loadm(M m, const T* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void storem(T* p, M m, V v) { _mm512_mask_storeu_ps(p, m, v); }
  static M mask(int n) { return n >= W ? M(0xFFFF) : n <= 0 ? M(0) : M((1u << n) - 1); }
};

struct F64 {
  using T = double;
  using V = __m512d;
  using M = __mmask8;
  static constexpr int W = 8;
  static V zero() { return _mm512_setzero_pd(); }
  static V bcast(const T* p) { return _mm512_set1_pd(*p); }
  static V set1(T x) { return _mm512_set1_pd(x); }
  static V load(const T* p) { return _mm512_load_pd(p); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
  static V loadm(M m, const T* p) { return _mm512_maskz_loadu_pd(m, p); }
  static void storem(T* p, M m, V v) { _mm512_mask_storeu_pd(p, m, v); }
  static M mask(int n) { return n >= W ? M(0xFF) : n <= 0 ? M(0) : M((1u << n) - 1); }
};

// Packed A (a_ps = kMR, a_is = 1, compile-time) or A in place (run-time strides, rows past m never read).
template <class S, bool Packed>
void kernel_impl(int64_t kc, const typename S::T* a, int64_t a_ps, int64_t a_is, const typename S::T* b,
                 typename S::T* c, int64_t ldc, int m, int n, typename S::T alpha, typename S::T beta) {
  if (Packed) {
    a_ps = kMR;
    a_is = 1;
  }
  const typename S::T* ar[kMR];
#pragma GCC unroll 8
  for (int i = 0; i < kMR; ++i) ar[i] = a + (Packed || i < m ? i : m - 1) * a_is;
  using V = typename S::V;
  // The C tile is read (beta != 0) and written only after the kc-long loop, and its rows are ldc apart, which the
  // hardware prefetcher does not follow: asking for its lines now hides their memory latency behind the loop
  // (measured +10 % on 2048^2 with 4 KiB pages, where C is far out of cache).
#pragma GCC unroll 8
  for (int i = 0; i < kMR; ++i) {
    if (i >= m) break;
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 2 * S::W - 1), _MM_HINT_T0);
  }
  V c0[kMR], c1[kMR];
#pragma GCC unroll 8
  for (int i = 0; i < kMR; ++i) c0[i] = c1[i] = S::zero();
  for (int64_t p = 0; p < kc; ++p) {
    V b0 = S::load(b), b1 = S::load(b + S::W);
#pragma GCC unroll 8
    for (int i = 0; i < kMR; ++i) {
      V ai = S::bcast(Packed ? a + i : ar[i]);
      c0[i] = S::fma(ai, b0, c0[i]);
      c1[i] = S::fma(ai, b1, c1[i]);
    }
    if (Packed) {
      a += kMR;
    } else {
#pragma GCC unroll 8
      for (int i = 0; i < kMR; ++i) ar[i] += a_ps;
    }
    b += 2 * S::W;
  }
  typename S::M m0 = S::mask(n), m1 = S::mask(n - S::W);
  V va = S::set1(alpha), vb = S::set1(beta);
  // Fully unrolled with constant indices, so the accumulators stay registers rather than a stack array.
#pragma GCC unroll 8
  for (int i = 0; i < kMR; ++i) {
    if (i >= m) break;
    typename S::T* ci = c + i * ldc;
    V r0 = S::mul(va, c0[i]), r1 = S::mul(va, c1[i]);
    if (beta != typename S::T(0)) {
      r0 = S::fma(vb, S::loadm(m0, ci), r0);
      r1 = S::fma(vb, S::loadm(m1, ci + S::W), r1);
    }
    S::storem(ci, m0, r0);
    S::storem(ci + S::W, m1, r1);
  }
}

// dst[p * rows + j] = src[j * ld + p]: one 16-lane gather per 16 destination elements (8-lane for rows = 8).
void pack_transpose(const float* src, int64_t ld, int rows, int64_t kc, float* dst) {
  if (rows == 32) {
    __m512i idx0 = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                      _mm512_set1_epi32(static_cast<int>(ld)));
    const float* hi = src + 16 * ld;
    for (int64_t p = 0; p < kc; ++p) {
      _mm512_storeu_ps(dst + p * 32, _mm512_i32gather_ps(idx0, src + p, 4));
      _mm512_storeu_ps(dst + p * 32 + 16, _mm512_i32gather_ps(idx0, hi + p, 4));
    }
  } else {  // rows == 8
    __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(ld)));
    for (int64_t p = 0; p < kc; ++p) _mm256_storeu_ps(dst + p * 8, _mm256_i32gather_ps(src + p, idx, 4));
  }
}

// The PackRowsFn for nr = 32 (gemm_ukernel.h): two zmm moves per panel row.
void pack_rows32(const float* src, int64_t ld, int64_t ncols, int64_t kc, float* dst) {
  const int64_t full = ncols / 32, rem = ncols % 32;
  const __mmask16 m0 = F32::mask(static_cast<int>(rem)), m1 = F32::mask(static_cast<int>(rem) - 16);
  for (int64_t p = 0; p < kc; ++p) {
    const float* s = src + p * ld;
    float* d = dst + p * 32;
    for (int64_t q = 0; q < full; ++q, s += 32, d += kc * 32) {
      const __m512 a = _mm512_loadu_ps(s), b = _mm512_loadu_ps(s + 16);
      _mm512_storeu_ps(d, a);
      _mm512_storeu_ps(d + 16, b);
    }
    if (rem) {
      const __m512 a = _mm512_maskz_loadu_ps(m0, s), b = _mm512_maskz_loadu_ps(m1, s + 16);
      _mm512_storeu_ps(d, a);
      _mm512_storeu_ps(d + 16, b);
    }
  }
}

// 4 x 4 dot products over kc: 16 accumulators, 8 loads per 16 FMAs per 16 k (compute-bound from L2).
void nt_dot_block(int64_t kc, const float* A, int64_t lda, int mi, const float* B, int64_t ldb, int nj, float* acc) {
  const float* a[4];
  const float* b[4];
  for (int r = 0; r < 4; ++r) {
    a[r] = A + (r < mi ? r : mi - 1) * lda;  // missing rows repeat the last one; their sums are discarded
    b[r] = B + (r < nj ? r : nj - 1) * ldb;
  }
  __m512 c[4][4];
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
    for (int s = 0; s < 4; ++s) c[r][s] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= kc; k += 16) {
    __m512 va[4], vb[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      va[r] = _mm512_loadu_ps(a[r] + k);
      vb[r] = _mm512_loadu_ps(b[r] + k);
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
      for (int s = 0; s < 4; ++s) c[r][s] = _mm512_fmadd_ps(va[r], vb[s], c[r][s]);
  }
  if (k < kc) {
    __mmask16 m = static_cast<__mmask16>((1u << (kc - k)) - 1);
    __m512 va[4], vb[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      va[r] = _mm512_maskz_loadu_ps(m, a[r] + k);
      vb[r] = _mm512_maskz_loadu_ps(m, b[r] + k);
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
      for (int s = 0; s < 4; ++s) c[r][s] = _mm512_fmadd_ps(va[r], vb[s], c[r][s]);
  }
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
    for (int s = 0; s < 4; ++s) acc[r * 4 + s] = _mm512_reduce_add_ps(c[r][s]);
}

template <class S>
void kernel(int64_t kc, const typename S::T* a, const typename S::T* b, typename S::T* c, int64_t ldc, int m, int n,
            typename S::T alpha, typename S::T beta) {
  kernel_impl<S, true>(kc, a, 0, 0, b, c, ldc, m, n, alpha, beta);
}

template <class S>
void kernel_strided(int64_t kc, const typename S::T* a, int64_t a_ps, int64_t a_is, const typename S::T* b,
                    typename S::T* c, int64_t ldc, int m, int n, typename S::T alpha, typename S::T beta) {
  kernel_impl<S, false>(kc, a, a_ps, a_is, b, c, ldc, m, n, alpha, beta);
}

}  // namespace

NtDotBlockFn sgemm_nt_dot_block_avx512() { return &nt_dot_block; }
PackTransposeFn pack_transpose_avx512() { return &pack_transpose; }
MicroKernel<float> sgemm_kernel_avx512() {
  return {kMR, 2 * F32::W, &kernel<F32>, &kernel_strided<F32>, &pack_transpose, &pack_rows32};
}
MicroKernel<double> dgemm_kernel_avx512() { return {kMR, 2 * F64::W, &kernel<F64>, &kernel_strided<F64>}; }

}  // namespace cq::kernels::gemm_detail

#else  // compiler without AVX-512 support for this file: the driver falls back

namespace cq::kernels::gemm_detail {
MicroKernel<float> sgemm_kernel_avx512() { return {}; }
MicroKernel<double> dgemm_kernel_avx512() { return {}; }
NtDotBlockFn sgemm_nt_dot_block_avx512() { return nullptr; }
PackTransposeFn pack_transpose_avx512() { return nullptr; }
}  // namespace cq::kernels::gemm_detail

#endif
