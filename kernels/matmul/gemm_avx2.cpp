// AVX2 + FMA micro-kernels: 6 rows x 2 ymm columns (6x16 float, 6x8 double) = 12 accumulators, the classic Haswell
// shape. Partial tiles are computed in full into a local buffer and copied out. Compiled with -mavx2 -mfma only;
// called only after cpuid says AVX2 and FMA are present. No std:: templates here (see gemm_ukernel.h).
#include "kernels/matmul/gemm_ukernel.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace cq::kernels::gemm_detail {
namespace {

constexpr int kMR = 6;

struct F32 {
  using T = float;
  using V = __m256;
  static constexpr int W = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V bcast(const T* p) { return _mm256_broadcast_ss(p); }
  static V set1(T x) { return _mm256_set1_ps(x); }
  static V load(const T* p) { return _mm256_load_ps(p); }
  static V loadu(const T* p) { return _mm256_loadu_ps(p); }
  static void storeu(T* p, V v) { _mm256_storeu_ps(p, v); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
};

struct F64 {
  using T = double;
  using V = __m256d;
  static constexpr int W = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V bcast(const T* p) { return _mm256_broadcast_sd(p); }
  static V set1(T x) { return _mm256_set1_pd(x); }
  static V load(const T* p) { return _mm256_load_pd(p); }
  static V loadu(const T* p) { return _mm256_loadu_pd(p); }
  static void storeu(T* p, V v) { _mm256_storeu_pd(p, v); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
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
  using T = typename S::T;
  using V = typename S::V;
  constexpr int NR = 2 * S::W;
  V c0[kMR], c1[kMR];
#pragma GCC unroll 6
  for (int i = 0; i < kMR; ++i) c0[i] = c1[i] = S::zero();
  for (int64_t p = 0; p < kc; ++p) {
    V b0 = S::load(b), b1 = S::load(b + S::W);
#pragma GCC unroll 6
    for (int i = 0; i < kMR; ++i) {
      V ai = S::bcast(Packed ? a + i : ar[i]);
      c0[i] = S::fma(ai, b0, c0[i]);
      c1[i] = S::fma(ai, b1, c1[i]);
    }
    if (Packed) {
      a += kMR;
    } else {
#pragma GCC unroll 6
      for (int i = 0; i < kMR; ++i) ar[i] += a_ps;
    }
    b += NR;
  }
  V va = S::set1(alpha), vb = S::set1(beta);
  if (n == NR) {
    // Fully unrolled with constant indices, so the accumulators stay registers rather than a stack array.
#pragma GCC unroll 6
    for (int i = 0; i < kMR; ++i) {
      if (i >= m) break;
      T* ci = c + i * ldc;
      V r0 = S::mul(va, c0[i]), r1 = S::mul(va, c1[i]);
      if (beta != T(0)) {
        r0 = S::fma(vb, S::loadu(ci), r0);
        r1 = S::fma(vb, S::loadu(ci + S::W), r1);
      }
      S::storeu(ci, r0);
      S::storeu(ci + S::W, r1);
    }
    return;
  }
  alignas(32) T tile[NR];
#pragma GCC unroll 6
  for (int i = 0; i < kMR; ++i) {
    if (i >= m) break;
    T* ci = c + i * ldc;
    S::storeu(tile, S::mul(va, c0[i]));
    S::storeu(tile + S::W, S::mul(va, c1[i]));
    for (int j = 0; j < n; ++j) ci[j] = beta != T(0) ? beta * ci[j] + tile[j] : tile[j];
  }
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

MicroKernel<float> sgemm_kernel_avx2() { return {kMR, 2 * F32::W, &kernel<F32>, &kernel_strided<F32>}; }
MicroKernel<double> dgemm_kernel_avx2() { return {kMR, 2 * F64::W, &kernel<F64>, &kernel_strided<F64>}; }

}  // namespace cq::kernels::gemm_detail

#else

namespace cq::kernels::gemm_detail {
MicroKernel<float> sgemm_kernel_avx2() { return {}; }
MicroKernel<double> dgemm_kernel_avx2() { return {}; }
}  // namespace cq::kernels::gemm_detail

#endif
