// Blocked CPU GEMM (Goto/BLIS layout): C is cut into column slabs of NC and K into slabs of KC; for each (NC, KC)
// slab the KC x NC panel of op(B) is packed once (shared by all threads), then tasks of MC rows x NB columns of C each
// pack their MC x KC block of op(A) and run the MR x NR micro-kernel over it. Tasks never share C elements and the
// slab loop order is fixed, so every C element sums K in the same order whatever the thread count.
#include "kernels/matmul/gemm.h"

#include <algorithm>
#include <vector>

namespace cq::kernels {
namespace {

// Register tile. 6 rows x 16 floats (6 x 8 doubles) is 12 256-bit accumulators: the classic AVX2 shape; with plain
// SSE2 the compiler still vectorises it (with some spills), and the AVX2/AVX-512 issue replaces micro_kernel only.
template <class T> struct Tile;
template <> struct Tile<float> { static constexpr int MR = 6, NR = 16; };
template <> struct Tile<double> { static constexpr int MR = 6, NR = 8; };

constexpr int64_t KC = 256;   // K slab: an MR x KC A sliver plus a KC x NR B sliver stay in L1
constexpr int64_t MC = 96;    // rows of C per task (multiple of MR=6); the packed A block (96 KiB f32) sits in L2
constexpr int64_t NB = 128;   // columns of C per task (multiple of NR): small enough that small-M GEMMs still split
constexpr int64_t NC = 4096;  // columns per packed B slab (4 MiB f32 at KC=256)

// acc[MR*NR] = sum_p a[p*MR + i] * b[p*NR + j] over p < kc, from packed panels, summed in order of p.
// The one function a SIMD issue replaces: keep the accumulator a fixed-size local array so it lives in registers.
template <class T>
void micro_kernel(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict acc) {
  constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
  T c[MR][NR] = {};
  for (int64_t p = 0; p < kc; ++p) {
    const T* bp = b + p * NR;
    const T* ap = a + p * MR;
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      T ai = ap[i];
#pragma omp simd
      for (int j = 0; j < NR; ++j) c[i][j] += ai * bp[j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i * NR + j] = c[i][j];
}

// Writes the valid m x n corner of a tile: the first K slab applies beta, later slabs accumulate.
template <class T>
void store_tile(const T* acc, T* c, int64_t ldc, int m, int n, T alpha, T beta, bool first) {
  constexpr int NR = Tile<T>::NR;
  for (int i = 0; i < m; ++i) {
    T* ci = c + i * ldc;
    const T* ai = acc + i * NR;
    if (!first) {
      for (int j = 0; j < n; ++j) ci[j] += alpha * ai[j];
    } else if (beta == T(0)) {
      for (int j = 0; j < n; ++j) ci[j] = alpha * ai[j];
    } else {
      for (int j = 0; j < n; ++j) ci[j] = alpha * ai[j] + beta * ci[j];
    }
  }
}

// Packs rows [i0, i0+mc) x cols [p0, p0+kc) of op(A) as MR-row panels: dst[(panel*kc + p)*MR + i], zero-padded.
template <class T>
void pack_a(bool trans, const T* A, int64_t lda, int64_t M, int64_t i0, int64_t mc, int64_t p0, int64_t kc, T* dst) {
  constexpr int MR = Tile<T>::MR;
  for (int64_t ir = 0; ir < mc; ir += MR) {
    T* d = dst + ir * kc;
    for (int i = 0; i < MR; ++i) {
      int64_t row = i0 + ir + i;
      if (row >= M || ir + i >= mc) {
        for (int64_t p = 0; p < kc; ++p) d[p * MR + i] = T(0);
      } else if (!trans) {
        const T* s = A + row * lda + p0;
        for (int64_t p = 0; p < kc; ++p) d[p * MR + i] = s[p];
      } else {
        const T* s = A + p0 * lda + row;
        for (int64_t p = 0; p < kc; ++p) d[p * MR + i] = s[p * lda];
      }
    }
  }
}

// Packs one NR-column panel (cols [j0, j0+NR) clipped to jend) of op(B) rows [p0, p0+kc): dst[p*NR + j].
template <class T>
void pack_b_panel(bool trans, const T* B, int64_t ldb, int64_t j0, int64_t jend, int64_t p0, int64_t kc, T* dst) {
  constexpr int NR = Tile<T>::NR;
  int n = static_cast<int>(std::min<int64_t>(NR, jend - j0));
  if (!trans) {
    for (int64_t p = 0; p < kc; ++p) {
      const T* s = B + (p0 + p) * ldb + j0;
      T* d = dst + p * NR;
      for (int j = 0; j < n; ++j) d[j] = s[j];
      for (int j = n; j < NR; ++j) d[j] = T(0);
    }
  } else {
    for (int j = 0; j < NR; ++j) {
      if (j >= n) {
        for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = T(0);
        continue;
      }
      const T* s = B + (j0 + j) * ldb + p0;
      for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = s[p];
    }
  }
}

}  // namespace

template <class T>
void gemm_cpu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
              const T* B, int64_t ldb, T beta, T* C, int64_t ldc, int threads) {
  constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  int64_t nc_max = std::min<int64_t>(NC, (N + NR - 1) / NR * NR);
  int64_t kc_max = std::min<int64_t>(KC, K);
  std::vector<T> bpack(static_cast<size_t>(nc_max * kc_max));
  int64_t m_tiles = (M + MC - 1) / MC;
  // Tiny products are not worth waking threads for; the decomposition below does not depend on this choice.
  bool par = threads > 1 && M * N * K >= (int64_t(1) << 18);

#pragma omp parallel num_threads(threads) if (par)
  {
    std::vector<T> apack(static_cast<size_t>(MC * kc_max));
    alignas(64) T acc[MR * NR];
    for (int64_t jc = 0; jc < N; jc += NC) {
      int64_t nc = std::min<int64_t>(NC, N - jc);
      int64_t b_panels = (nc + NR - 1) / NR;
      int64_t n_groups = (nc + NB - 1) / NB;
      for (int64_t pc = 0; pc < K; pc += KC) {
        int64_t kc = std::min<int64_t>(KC, K - pc);
        bool first = pc == 0;
#pragma omp for schedule(static)
        for (int64_t bp = 0; bp < b_panels; ++bp)
          pack_b_panel(trans_b, B, ldb, jc + bp * NR, jc + nc, pc, kc, bpack.data() + bp * NR * kc);
        // (implicit barrier: the packed B slab is complete before any task reads it)
#pragma omp for schedule(static)
        for (int64_t task = 0; task < m_tiles * n_groups; ++task) {
          int64_t ic = (task / n_groups) * MC, jg = (task % n_groups) * NB;
          int64_t mc = std::min<int64_t>(MC, M - ic);
          int64_t ng = std::min<int64_t>(NB, nc - jg);
          pack_a(trans_a, A, lda, M, ic, mc, pc, kc, apack.data());
          for (int64_t jr = 0; jr < ng; jr += NR) {
            const T* bsl = bpack.data() + (jg + jr) / NR * NR * kc;
            int n = static_cast<int>(std::min<int64_t>(NR, ng - jr));
            for (int64_t ir = 0; ir < mc; ir += MR) {
              int m = static_cast<int>(std::min<int64_t>(MR, mc - ir));
              micro_kernel<T>(kc, apack.data() + ir * kc, bsl, acc);
              store_tile<T>(acc, C + (ic + ir) * ldc + jc + jg + jr, ldc, m, n, alpha, beta, first);
            }
          }
        }
        // (implicit barrier: nobody repacks B while a task still reads it)
      }
    }
  }
}

template void gemm_cpu<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                              int64_t, float, float*, int64_t, int);
template void gemm_cpu<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                               int64_t, double, double*, int64_t, int);

}  // namespace cq::kernels
