// Internal to the CPU GEMM (gemm_cpu.cpp): packing op(A) into mr-row panels and op(B) into nr-column panels, the
// layouts the micro-kernels (gemm_ukernel.h) read. Included by the generic-flags driver only.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

namespace cq::kernels::gemm_detail {

// Packs op(A) rows [0, M) x cols [p0, p0+kc) as mr-row panels dst[(panel*kc + p)*mr + i], zero-padded to whole
// panels; panels [first, last) only (threads split them).
// pack_t: the ISA's transposing pack for full panels of K-contiguous rows (nullptr: portable loop).
template <class T, class PackT>
void pack_a(bool trans, const T* A, int64_t lda, int64_t M, int mr, int64_t p0, int64_t kc, T* dst, int64_t first,
            int64_t last, PackT pack_t) {
  for (int64_t panel = first; panel < last; ++panel) {
    T* d = dst + panel * mr * kc;
    int64_t r0 = panel * mr;
    int rows = static_cast<int>(std::min<int64_t>(mr, M - r0));
    if (trans) {  // A is [K, M]: each p is a contiguous run of rows
      for (int64_t p = 0; p < kc; ++p) {
        const T* s = A + (p0 + p) * lda + r0;
        T* dp = d + p * mr;
        for (int i = 0; i < rows; ++i) dp[i] = s[i];
        for (int i = rows; i < mr; ++i) dp[i] = T(0);
      }
    } else if (pack_t && rows == mr && int64_t(mr) * lda < (int64_t(1) << 31)) {
      pack_t(A + r0 * lda + p0, lda, mr, kc, d);
    } else {  // A is [M, K]: walk p outermost so writes are contiguous; the mr rows are read as mr streams
      const T* src[64];
      for (int i = 0; i < rows; ++i) src[i] = A + (r0 + i) * lda + p0;
      for (int64_t p = 0; p < kc; ++p) {
        T* dp = d + p * mr;
        for (int i = 0; i < rows; ++i) dp[i] = src[i][p];
        for (int i = rows; i < mr; ++i) dp[i] = T(0);
      }
    }
  }
}

// Packs nr-column panels [first, last) of op(B) columns [j0, jend) x rows [p0, p0+kc): dst[(panel*kc + p)*nr + j].
// pack_n: the ISA's pack of row-major rows (MicroKernel::pack_n), or nullptr.
template <class T, class PackT, class PackN>
void pack_b(bool trans, const T* B, int64_t ldb, int nr, int64_t j0, int64_t jend, int64_t p0, int64_t kc, T* dst,
            int64_t first, int64_t last, PackT pack_t, PackN pack_n) {
  if (!trans && pack_n) {
    const int64_t c0 = j0 + first * nr, c1 = std::min<int64_t>(jend, j0 + last * nr);
    if (c1 > c0) pack_n(B + p0 * ldb + c0, ldb, c1 - c0, kc, dst + first * nr * kc);
    return;
  }
  if (!trans) {
    // Row by row: each row of the block is one contiguous run of source memory (what the hardware prefetcher
    // follows), scattered into the panels; panel by panel would touch every row once per panel.
    for (int64_t p = 0; p < kc; ++p) {
      const T* s = B + (p0 + p) * ldb;
      for (int64_t panel = first; panel < last; ++panel) {
        const int64_t c0 = j0 + panel * nr;
        const int cols = static_cast<int>(std::min<int64_t>(nr, jend - c0));
        T* dp = dst + (panel * kc + p) * nr;
        std::memcpy(dp, s + c0, sizeof(T) * cols);
        for (int j = cols; j < nr; ++j) dp[j] = T(0);
      }
    }
    return;
  }
  for (int64_t panel = first; panel < last; ++panel) {
    T* d = dst + panel * nr * kc;
    int64_t c0 = j0 + panel * nr;
    int cols = static_cast<int>(std::min<int64_t>(nr, jend - c0));
    if (pack_t && cols == nr && int64_t(nr) * ldb < (int64_t(1) << 31)) {
      pack_t(B + c0 * ldb + p0, ldb, nr, kc, d);
    } else {  // B is [N, K]: column j of op(B) is row j of B; walk p outermost so the writes are contiguous and the
              // nr source rows are read as nr sequential streams (each cache line serves 16 consecutive p)
      const T* rows[64];
      for (int j = 0; j < cols; ++j) rows[j] = B + (c0 + j) * ldb + p0;
      for (int64_t p = 0; p < kc; ++p) {
        T* dp = d + p * nr;
        for (int j = 0; j < cols; ++j) dp[j] = rows[j][p];
        for (int j = cols; j < nr; ++j) dp[j] = T(0);
      }
    }
  }
}

}  // namespace cq::kernels::gemm_detail
