// Blocked CPU GEMM (Goto/BLIS layout). K is cut into balanced slabs of at most KC (sizes depend on K only). For each
// slab the threads pack all of op(A)'s rows once (shared), then take tasks of NB columns (x a chunk of rows): a task
// packs its KC x NB block of op(B) into its own buffer, which stays in L2 while every row block of A streams past
// it, and runs the MR x NR micro-kernel with a KC x NR sliver of B in L1. B is read from memory once per slab and
// its packed copy never leaves the cache (conv GEMMs have N = H*W up to 10^5 columns). Tasks never share C elements and the slab order is
// fixed, so every C element sums K in the same order whatever the thread count.
// The micro-kernel is chosen by CPU: AVX-512 (8x32 float), AVX2+FMA (6x16), or the portable loop below.
#include "kernels/matmul/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/matmul/gemm_epilogue.h"
#include "kernels/matmul/gemm_pack.h"
#include "kernels/matmul/gemm_ukernel.h"
#include "tensor/allocator.h"
#include "tensor/error.h"

namespace cq::kernels {
namespace gemm_detail {
namespace {

// Portable micro-kernel (any compiler, any CPU): a fixed-size local accumulator the compiler keeps in registers.
template <class T, int MR, int NR>
void generic_kernel(int64_t kc, const T* __restrict a, const T* __restrict b, T* c, int64_t ldc, int m, int n, T alpha,
                    T beta) {
  T acc[MR][NR] = {};
  for (int64_t p = 0; p < kc; ++p) {
    const T* bp = b + p * NR;
    const T* ap = a + p * MR;
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      T ai = ap[i];
#pragma omp simd
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * bp[j];
    }
  }
  for (int i = 0; i < m; ++i) {
    T* ci = c + i * ldc;
    for (int j = 0; j < n; ++j) ci[j] = beta == T(0) ? alpha * acc[i][j] : alpha * acc[i][j] + beta * ci[j];
  }
}

template <class T, int MR, int NR>
void generic_kernel_strided(int64_t kc, const T* a, int64_t a_ps, int64_t a_is, const T* b, T* c, int64_t ldc, int m,
                            int n, T alpha, T beta) {
  T panel[MR * 256];  // kc <= KC = 256: pack the sliver locally and run the packed loop
  for (int64_t p = 0; p < kc; ++p)
    for (int i = 0; i < MR; ++i) panel[p * MR + i] = i < m ? a[p * a_ps + i * a_is] : T(0);
  generic_kernel<T, MR, NR>(kc, panel, b, c, ldc, m, n, alpha, beta);
}

template <class T> MicroKernel<T> generic_micro_kernel();
template <> MicroKernel<float> generic_micro_kernel<float>() {
  return {6, 16, &generic_kernel<float, 6, 16>, &generic_kernel_strided<float, 6, 16>};
}
template <> MicroKernel<double> generic_micro_kernel<double>() {
  return {6, 8, &generic_kernel<double, 6, 8>, &generic_kernel_strided<double, 6, 8>};
}

template <class T>
MicroKernel<T> micro_kernel_for(CpuIsa isa) {
  MicroKernel<T> k;
  if constexpr (std::is_same_v<T, float>) {
    if (isa == CpuIsa::avx512) k = sgemm_kernel_avx512();
    if (isa == CpuIsa::avx2) k = sgemm_kernel_avx2();
  } else {
    if (isa == CpuIsa::avx512) k = dgemm_kernel_avx512();
    if (isa == CpuIsa::avx2) k = dgemm_kernel_avx2();
  }
  return k.fn ? k : generic_micro_kernel<T>();
}

constexpr int64_t KC = 256;   // K slab: a KC x NR sliver of B (32 KiB f32 at NR=32) stays in L1
// op(A) packed for all of K up to this size is kept whole (slab-inner loop order, see gemm_blocked): it stays in the
// last-level cache, the threads synchronise once per product instead of twice per slab, and a task's C tile stays in
// cache between slabs. Measured on the shapes (2 cores): 4 MiB is the best of 0.5, 4, 8 MiB.
constexpr int64_t kResidentA = int64_t(4) << 20;

// Static split of [0, n) over nt threads, the same split `omp for schedule(static)` makes.
void split(int64_t n, int tid, int nt, int64_t* lo, int64_t* hi) {
  int64_t chunk = (n + nt - 1) / nt;
  *lo = std::min<int64_t>(n, tid * chunk);
  *hi = std::min<int64_t>(n, *lo + chunk);
}

struct AlignedBuffer {
  void* p = nullptr;
  // host_alloc: 64-byte aligned, huge-page advised when large (a packed operand of MBs is walked panel by panel).
  explicit AlignedBuffer(size_t bytes) : p(host_alloc(bytes)) { CQ_CHECK(p, "gemm: out of memory (", bytes, " bytes)"); }
  ~AlignedBuffer() { host_free(p); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
};

// Runs body(tid, nt, barrier) on nt_max threads (an OpenMP team), or inline with a no-op barrier for one thread.
template <class Body>
void run_team(int nt_max, const Body& body) {
  if (nt_max == 1) {
    body(0, 1, [] {});
    return;
  }
#pragma omp parallel num_threads(nt_max)
  {
    int nt = 1, tid = 0;
#ifdef _OPENMP
    nt = omp_get_num_threads();
    tid = omp_get_thread_num();
#endif
    body(tid, nt, [] {
#pragma omp barrier
    });
  }
}

// pack_panels(j0, jend, p0, kc, dst) packs columns [j0, jend) of op(B) as consecutive nr-column panels (explicit
// matrix or implicit source).
// ep (float only, may be null): the per-row epilogue, applied to each tile after its last K slab.
template <class T, class PackPanels>
void gemm_blocked(const MicroKernel<T>& uk, bool trans_a, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, const PackPanels& pack_panels, T beta, T* C, int64_t ldc, int threads,
                  const GemmEpilogue* ep = nullptr) {
  const int mr = uk.mr, nr = uk.nr;
  const int64_t MC = int64_t(mr) * 16;  // rows per inner block: the packed A block stays in L2
  const int64_t n_slabs = (K + KC - 1) / KC;
  const int64_t kc_max = (K + n_slabs - 1) / n_slabs;  // balanced: K = 576 gives 3 x 192, not 256 + 256 + 64
  const int64_t a_panels = (M + mr - 1) / mr;
  // Tiny products are not worth waking threads for. Neither this nor the task split below changes any result: each
  // C element is always one micro-kernel call per K slab on the same packed data.
  const int nt_max = threads > 1 && M * N * K >= (int64_t(1) << 18) ? threads : 1;
  // Columns per task: its packed B (NB x KC) stays in L2 while all rows use it. With several threads and few
  // columns, narrower groups so that every thread packs its own columns of B rather than all of them.
  int64_t NB = int64_t(nr) * 8;
  if (nt_max > 1) NB = std::min(NB, std::max<int64_t>(nr, ((N + nt_max - 1) / nt_max + nr - 1) / nr * nr));
  const int64_t n_groups = (N + NB - 1) / NB;
  // Tasks are (column group, row chunk), numbered group-major (a thread's consecutive tasks share a packed B block);
  // rows are split when there are too few column groups to share, or row-major by thread for a large A (below).
  // Large A (a packed slab of 1 MiB or more, half an L2): one row chunk per thread instead, every thread running all
  // column groups of its own rows, so its share of the packed slab stays in its L2 across the groups rather than
  // each group streaming the whole slab from L3; the price is that each thread packs every B block (measured on
  // 2048^2, 2 threads: ~3 % faster; on 64x16384x576, whose B is 37 MB, it would be 20 % slower: not chosen there).
  const int64_t a_slab_bytes = a_panels * mr * std::min(K, KC) * int64_t(sizeof(T));
  const bool row_split = nt_max > 1 && a_panels >= 2 * nt_max && a_slab_bytes >= (int64_t(1) << 20);
  const int64_t m_chunks =
      row_split ? nt_max : std::min<int64_t>(a_panels, std::max<int64_t>(1, (2 * nt_max + n_groups - 1) / n_groups));
  // Packing A pays off when each packed panel serves many column panels; with few columns (deep 1x1 convs, Linear on
  // few tokens) the kernel reads A in place instead. Same arithmetic, same order: results do not change.
  // (Up to 16 column panels, i.e. N <= 512 at nr = 32: BM_Sgemm 256^2 on 2 threads 11 % faster in place, 512^2 3 %,
  // nothing larger changed measurably.)
  const bool pack_a_rows = (N + nr - 1) / nr > 16 || uk.fn_strided == nullptr;
  const int64_t panels_per_chunk = (a_panels + m_chunks - 1) / m_chunks;
  // Few rows (a conv GEMM's output channels): op(A) packed whole for every slab fits in L2, so a task runs all K
  // slabs of its column group back to back and its C tile (M x NB) stays in cache between slabs instead of going to
  // memory and back once per slab. Same slab order per element: the same bits as slab-outer order.
  const int64_t a_slab = a_panels * mr * kc_max;  // packed A of one slab (elements)
  const bool a_resident = pack_a_rows && n_slabs > 1 && a_slab * n_slabs * int64_t(sizeof(T)) <= kResidentA;
  AlignedBuffer abuf(pack_a_rows ? sizeof(T) * a_slab * (a_resident ? n_slabs : 1) : 0);
  AlignedBuffer bbuf(sizeof(T) * nt_max * NB * kc_max);

  // One task (column group x row chunk) for K slab s (columns from pc, kc deep), with op(A)'s slab packed at apack.
  // packed: this thread's (column group, slab) now in bpack, so consecutive row chunks of a group pack B once.
  auto run_task = [&](int64_t task, int64_t s, int64_t pc, int64_t kc, const T* apack, T* bpack, int64_t* packed) {
    const T slab_beta = s == 0 ? beta : T(1);
    const int64_t grp = row_split ? task % n_groups : task / m_chunks;
    int64_t jg = grp * NB, q = row_split ? task / n_groups : task % m_chunks;
    int64_t ng = std::min<int64_t>(NB, N - jg);
    int64_t row0 = q * panels_per_chunk * mr, row1 = std::min<int64_t>(M, (q + 1) * panels_per_chunk * mr);
    const int64_t key = grp * n_slabs + s;
    if (*packed != key) pack_panels(jg, jg + ng, pc, kc, bpack);
    *packed = key;
    for (int64_t ic = row0; ic < row1; ic += MC) {
      int64_t mc = std::min<int64_t>(MC, row1 - ic);
      for (int64_t jr = 0; jr < ng; jr += nr) {
        const T* bsl = bpack + jr * kc;
        int n = static_cast<int>(std::min<int64_t>(nr, ng - jr));
        for (int64_t ir = 0; ir < mc; ir += mr) {
          int m = static_cast<int>(std::min<int64_t>(mr, mc - ir));
          T* cp = C + (ic + ir) * ldc + jg + jr;
          if (pack_a_rows) {
            uk.fn(kc, apack + (ic + ir) * kc, bsl, cp, ldc, m, n, alpha, slab_beta);
          } else if (trans_a) {  // A is [K, M]
            uk.fn_strided(kc, A + pc * lda + ic + ir, lda, 1, bsl, cp, ldc, m, n, alpha, slab_beta);
          } else {
            uk.fn_strided(kc, A + (ic + ir) * lda + pc, 1, lda, bsl, cp, ldc, m, n, alpha, slab_beta);
          }
          if constexpr (std::is_same_v<T, float>) {
            if (ep && s == n_slabs - 1)
              row_epilogue_f32(cp, ldc, m, n, ep->scale ? ep->scale + ic + ir : nullptr,
                               ep->shift ? ep->shift + ic + ir : nullptr,
                               ep->col_shift ? ep->col_shift + jg + jr : nullptr, ep->act,
                               ep->residual ? ep->residual + (ic + ir) * ep->ld_residual + jg + jr : nullptr,
                               ep->ld_residual);
          }
        }
      }
    }
  };

  auto body = [&](int tid, int nt, auto&& barrier) {
    T* bpack = static_cast<T*>(bbuf.p) + tid * NB * kc_max;
    T* apack = static_cast<T*>(abuf.p);
    int64_t lo, hi, packed = -1;
    if (a_resident) {
      split(a_panels, tid, nt, &lo, &hi);
      for (int64_t s = 0; s < n_slabs; ++s) {
        const int64_t pc = s * kc_max, kc = std::min<int64_t>(kc_max, K - pc);
        pack_a(trans_a, A, lda, M, mr, pc, kc, apack + s * a_slab, lo, hi, uk.pack_t);
      }
      barrier();  // A is complete before any task reads it
      split(n_groups * m_chunks, tid, nt, &lo, &hi);
      for (int64_t task = lo; task < hi; ++task)
        for (int64_t s = 0; s < n_slabs; ++s) {
          const int64_t pc = s * kc_max, kc = std::min<int64_t>(kc_max, K - pc);
          run_task(task, s, pc, kc, apack + s * a_slab, bpack, &packed);
        }
      return;
    }
    for (int64_t s = 0; s < n_slabs; ++s) {
      const int64_t pc = s * kc_max, kc = std::min<int64_t>(kc_max, K - pc);
      if (pack_a_rows) {
        split(a_panels, tid, nt, &lo, &hi);
        pack_a(trans_a, A, lda, M, mr, pc, kc, apack, lo, hi, uk.pack_t);
        barrier();  // A is complete before any task reads it
      }
      split(n_groups * m_chunks, tid, nt, &lo, &hi);
      for (int64_t task = lo; task < hi; ++task) run_task(task, s, pc, kc, apack, bpack, &packed);
      if (pack_a_rows) barrier();  // nobody repacks A while a task still reads it
    }
  };

  run_team(nt_max, body);
}

// C = alpha * A * B^T + beta * C by 4x4 blocks of K-long dot products (A [M, K], B [N, K], both K-contiguous). K is
// cut into chunks (sizes depend on M, N, K only) so that the chunk of the operand with fewer rows stays in L2 while
// blocks of 4 rows of the other stream past it, and at most 1024 long so those 4 rows (16 KiB) stay in L1 while the
// inner loop reads 4-row blocks of the L2 operand (measured: 1024 gives 87 GFLOP/s, 8192 70 on 64x576x16384; the
// 16 lane-sums reduced per block per chunk cost ~5% at this length). Each thread owns a fixed set of C blocks in every chunk, so every element sums its
// chunks in order for any thread count. B comes in place (B != nullptr) or from src: when B is the streamed operand
// each thread builds its 4 rows just before using them (in cache, no barrier); otherwise the chunk is built into a
// shared buffer.
void nt_dot(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
            const GemmBRows* src, float beta, float* C, int64_t ldc, int threads) {
  NtDotBlockFn block = sgemm_nt_dot_block_avx512();
  const bool stream_b = M <= N;  // A's chunk stays in L2, B streams in blocks of 4 rows
  const int64_t target = std::clamp<int64_t>(int64_t(1 << 18) / std::min(M, N), 256, 1024);
  const int64_t n_chunks = (K + target - 1) / target;
  const int64_t kchunk = ((K + n_chunks - 1) / n_chunks + 15) / 16 * 16;
  const int64_t bi = (M + 3) / 4, bj = (N + 3) / 4, nblocks = bi * bj;
  const int nt_max = threads > 1 && M * N * K >= (int64_t(1) << 18) ? threads : 1;
  // Shared chunk of B rows (B not streamed), or one 4-row buffer per thread (B streamed).
  AlignedBuffer bbuf(!src ? 0 : sizeof(float) * kchunk * (stream_b ? 4 * nt_max : N));

  auto body = [&](int tid, int nt, auto&& barrier) {
    int64_t lo, hi;
    split(nblocks, tid, nt, &lo, &hi);
    float* own_rows = static_cast<float*>(bbuf.p) + (stream_b ? tid * 4 * kchunk : 0);
    alignas(64) float acc[16];
    for (int64_t k0 = 0; k0 < K; k0 += kchunk) {
      int64_t kc = std::min(kchunk, K - k0);
      const float* Bc = B ? B + k0 : static_cast<const float*>(bbuf.p);
      int64_t ldbc = B ? ldb : kchunk;
      if (src && !stream_b) {
        int64_t jlo, jhi;
        split(N, tid, nt, &jlo, &jhi);
        if (jlo < jhi) src->rows(jlo, jhi, k0, kc, static_cast<float*>(bbuf.p) + jlo * kchunk, kchunk);
        barrier();  // all rows of this chunk are in place
      }
      bool first = k0 == 0;
      int64_t built_j = -1;
      for (int64_t blk = lo; blk < hi; ++blk) {
        int64_t ib = stream_b ? blk % bi : blk / bj, jb = stream_b ? blk / bi : blk % bj;
        int64_t i = ib * 4, j = jb * 4;
        int mi = static_cast<int>(std::min<int64_t>(4, M - i)), nj = static_cast<int>(std::min<int64_t>(4, N - j));
        const float* brow = Bc + j * ldbc;
        if (src && stream_b) {
          if (built_j != j) src->rows(j, j + nj, k0, kc, own_rows, kchunk);
          built_j = j;
          brow = own_rows;
        }
        block(kc, A + i * lda + k0, lda, mi, brow, ldbc, nj, acc);
        for (int r = 0; r < mi; ++r)
          for (int s2 = 0; s2 < nj; ++s2) {
            float v = alpha * acc[r * 4 + s2];
            float& c = C[(i + r) * ldc + j + s2];
            c = !first ? c + v : beta == 0.0f ? v : v + beta * c;
          }
      }
      if (src && !stream_b) barrier();  // nobody refills the rows while a block still reads them
    }
  };
  run_team(nt_max, body);
}

// The NT-dot form wins when K is long next to M and N (weight gradients): the blocked GEMM would repack both
// K-contiguous operands through a transpose.
bool prefer_nt_dot(int64_t M, int64_t N, int64_t K) { return K >= 1024 && K >= 8 * std::min(M, N); }

CpuIsa detect_isa() {
  CpuIsa best = CpuIsa::generic;
  if (cpu_isa_supported(CpuIsa::avx512)) best = CpuIsa::avx512;
  else if (cpu_isa_supported(CpuIsa::avx2)) best = CpuIsa::avx2;
  if (const char* cap = std::getenv("CQ_CPU_ISA")) {
    for (CpuIsa isa : {CpuIsa::generic, CpuIsa::avx2, CpuIsa::avx512})
      if (std::strcmp(cap, cpu_isa_name(isa)) == 0 && static_cast<int>(isa) < static_cast<int>(best)) best = isa;
  }
  return best;
}

}  // namespace
}  // namespace gemm_detail

bool cpu_isa_supported(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::generic:
      return true;
    case CpuIsa::avx2:
#if defined(__x86_64__) || defined(__i386__)
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             gemm_detail::sgemm_kernel_avx2().fn != nullptr;
#else
      return false;
#endif
    case CpuIsa::avx512:
#if defined(__x86_64__) || defined(__i386__)
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma") &&
             gemm_detail::sgemm_kernel_avx512().fn != nullptr;
#else
      return false;
#endif
  }
  return false;
}

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::generic: return "generic";
    case CpuIsa::avx2: return "avx2";
    case CpuIsa::avx512: return "avx512";
  }
  return "?";
}

CpuIsa cpu_isa() {
  // Decided once per process: the CPU does not change under us (a constant, not mutable state).
  static const CpuIsa isa = gemm_detail::detect_isa();
  return isa;
}

template <class T>
void gemm_cpu_isa(CpuIsa isa, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc, int threads) {
  CQ_CHECK(cpu_isa_supported(isa), "gemm: instruction set ", cpu_isa_name(isa), " is not supported on this CPU/build");
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (isa == CpuIsa::avx512 && !trans_a && trans_b && gemm_detail::prefer_nt_dot(M, N, K)) {
      gemm_detail::nt_dot(M, N, K, alpha, A, lda, B, ldb, nullptr, beta, C, ldc, threads);
      return;
    }
  }
  auto uk = gemm_detail::micro_kernel_for<T>(isa);
  auto pack_panels = [&](int64_t j0, int64_t jend, int64_t p0, int64_t kc, T* dst) {
    gemm_detail::pack_b(trans_b, B, ldb, uk.nr, j0, jend, p0, kc, dst, 0, (jend - j0 + uk.nr - 1) / uk.nr, uk.pack_t,
                        uk.pack_n);
  };
  gemm_detail::gemm_blocked<T>(uk, trans_a, M, N, K, alpha, A, lda, pack_panels, beta, C, ldc, threads);
}

template <class T>
void gemm_cpu_implicit(bool trans_a, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                       const GemmBSource<T>& b, T beta, T* C, int64_t ldc, int threads) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  auto uk = gemm_detail::micro_kernel_for<T>(cpu_isa());
  auto pack_panels = [&](int64_t j0, int64_t jend, int64_t p0, int64_t kc, T* dst) { b.pack(j0, jend, p0, kc, uk.nr, dst); };
  gemm_detail::gemm_blocked<T>(uk, trans_a, M, N, K, alpha, A, lda, pack_panels, beta, C, ldc, threads);
}

template <class T>
void gemm_cpu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
              const T* B, int64_t ldb, T beta, T* C, int64_t ldc, int threads) {
  gemm_cpu_isa<T>(cpu_isa(), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
}

void gemm_cpu_ep(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float* C, int64_t ldc, const GemmEpilogue& ep, int threads) {
  CQ_CHECK(K > 0, "gemm_cpu_ep: needs K > 0");
  if (M <= 0 || N <= 0) return;
  auto uk = gemm_detail::micro_kernel_for<float>(cpu_isa());
  auto pack_panels = [&](int64_t j0, int64_t jend, int64_t p0, int64_t kc, float* dst) {
    gemm_detail::pack_b(trans_b, B, ldb, uk.nr, j0, jend, p0, kc, dst, 0, (jend - j0 + uk.nr - 1) / uk.nr, uk.pack_t,
                        uk.pack_n);
  };
  gemm_detail::gemm_blocked<float>(uk, trans_a, M, N, K, 1.0f, A, lda, pack_panels, 0.0f, C, ldc, threads, &ep);
}

void gemm_cpu_implicit_ep(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const GemmBSource<float>& b,
                          float* C, int64_t ldc, const GemmEpilogue& ep, int threads) {
  CQ_CHECK(K > 0, "gemm_cpu_implicit_ep: needs K > 0");
  if (M <= 0 || N <= 0) return;
  auto uk = gemm_detail::micro_kernel_for<float>(cpu_isa());
  auto pack_panels = [&](int64_t j0, int64_t jend, int64_t p0, int64_t kc, float* dst) { b.pack(j0, jend, p0, kc, uk.nr, dst); };
  gemm_detail::gemm_blocked<float>(uk, false, M, N, K, 1.0f, A, lda, pack_panels, 0.0f, C, ldc, threads, &ep);
}

bool gemm_nt_dot_available() { return cpu_isa() == CpuIsa::avx512; }
bool gemm_nt_dot_preferred(int64_t M, int64_t N, int64_t K) {
  return gemm_nt_dot_available() && gemm_detail::prefer_nt_dot(M, N, K);
}

void gemm_cpu_nt_rows(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const GemmBRows& b,
                      float beta, float* C, int64_t ldc, int threads) {
  CQ_CHECK(gemm_nt_dot_available(), "gemm_cpu_nt_rows: needs AVX-512 (check gemm_nt_dot_available())");
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  gemm_detail::nt_dot(M, N, K, alpha, A, lda, nullptr, 0, &b, beta, C, ldc, threads);
}

#define CQ_GEMM_INSTANTIATE(T)                                                                                     \
  template void gemm_cpu<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, T*, \
                            int64_t, int);                                                                         \
  template void gemm_cpu_isa<T>(CpuIsa, bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*,     \
                                int64_t, T, T*, int64_t, int);                                                     \
  template void gemm_cpu_implicit<T>(bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const GemmBSource<T>&, \
                                     T, T*, int64_t, int);
CQ_GEMM_INSTANTIATE(float)
CQ_GEMM_INSTANTIATE(double)

}  // namespace cq::kernels
