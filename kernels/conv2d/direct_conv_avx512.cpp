// AVX-512 direct convolution micro-kernel for stride-1 convolutions over a zero-padded NCHW image: 8 output
// channels x 3 "slots" of 16 output columns per call (24 zmm accumulators), the input row segments loaded in place
// (no im2col, no packing of the image). A slot is any 16 columns of any output row, so a row's last one or two
// vectors join the next row's first ones and every call does full work (a 256-wide row is 16 vectors, not a
// multiple of 3). Why 3 vectors: per (c, ki, kj) step the tile does 24 FMAs for 3 vector loads and 8 weight
// broadcasts; at 8 x 2 vectors those loads (most of them splitting a cache line) kept the load ports as busy as the
// FMA ports (in-cache: 8 x 3 runs at ~195 GFLOP/s per core here, 8 x 2 at ~170). Compiled with -mavx512f -mfma
// only, called only after cpuid says AVX-512F (direct_conv.cpp); raw pointers only (see kernels/matmul/gemm_ukernel.h
// for why).
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

// The 3x3 reduction over C channels in assembly: GCC's allocation of 24 accumulators + 3 inputs + broadcasts added
// register copies to the FMA ports and reached ~78 % of the FMA peak; this loop has none (per channel: 27 loads, 72
// broadcasts, 216 FMAs, 2 address computations). acc: 24 zmm in memory, [i][v] order, read before and written
// after the loop. x: channel 0's row 0 (slot offsets xo in bytes), plane/wp: channel and row strides in bytes.
#define CQ_FMA3(WOFF, I, A, C0, C1, C2)                          \
  "vbroadcastss " WOFF "+" I "(%[w]), %%zmm" A "\n\t"             \
  "vfmadd231ps %%zmm24, %%zmm" A ", %%zmm" C0 "\n\t"             \
  "vfmadd231ps %%zmm25, %%zmm" A ", %%zmm" C1 "\n\t"             \
  "vfmadd231ps %%zmm26, %%zmm" A ", %%zmm" C2 "\n\t"
#define CQ_TAP(ROW, XOFF, WOFF)                                  \
  "vmovups " XOFF "(" ROW ",%[o0]), %%zmm24\n\t"                \
  "vmovups " XOFF "(" ROW ",%[o1]), %%zmm25\n\t"                \
  "vmovups " XOFF "(" ROW ",%[o2]), %%zmm26\n\t"                \
  CQ_FMA3(WOFF, "0", "27", "0", "1", "2")                        \
  CQ_FMA3(WOFF, "4", "28", "3", "4", "5")                        \
  CQ_FMA3(WOFF, "8", "29", "6", "7", "8")                        \
  CQ_FMA3(WOFF, "12", "30", "9", "10", "11")                     \
  CQ_FMA3(WOFF, "16", "27", "12", "13", "14")                    \
  CQ_FMA3(WOFF, "20", "28", "15", "16", "17")                    \
  CQ_FMA3(WOFF, "24", "29", "18", "19", "20")                    \
  CQ_FMA3(WOFF, "28", "30", "21", "22", "23")
#define CQ_ACC_LOAD(R, OFF) "vmovaps " OFF "(%[acc]), %%zmm" R "\n\t"
#define CQ_ACC_STORE(R, OFF) "vmovaps %%zmm" R ", " OFF "(%[acc])\n\t"
// M(register, byte offset) for the 24 accumulators zmm0..zmm23 at acc + 64 * register.
#define CQ_ACC_ALL(M)                                                                                               \
  M("0", "0") M("1", "64") M("2", "128") M("3", "192") M("4", "256") M("5", "320") M("6", "384") M("7", "448")    \
  M("8", "512") M("9", "576") M("10", "640") M("11", "704") M("12", "768") M("13", "832") M("14", "896")          \
  M("15", "960") M("16", "1024") M("17", "1088") M("18", "1152") M("19", "1216") M("20", "1280") M("21", "1344")   \
  M("22", "1408") M("23", "1472")

void reduce_3x3_asm(float* acc, const float* w, const float* x, const int64_t (&xo)[3], int64_t C, int64_t plane,
                    int64_t wp) {
  if (C <= 0) return;
  const int64_t o0 = xo[0] * 4, o1 = xo[1] * 4, o2 = xo[2] * 4, plane_b = plane * 4, wp_b = wp * 4;
  const float* r1;
  const float* r2;
  asm volatile(
      CQ_ACC_ALL(CQ_ACC_LOAD)
      "1:\n\t"
      "lea (%[x],%[wp]), %[r1]\n\t"
      "lea (%[r1],%[wp]), %[r2]\n\t"
      CQ_TAP("%[x]", "0", "0") CQ_TAP("%[x]", "4", "32") CQ_TAP("%[x]", "8", "64")
      CQ_TAP("%[r1]", "0", "96") CQ_TAP("%[r1]", "4", "128") CQ_TAP("%[r1]", "8", "160")
      CQ_TAP("%[r2]", "0", "192") CQ_TAP("%[r2]", "4", "224") CQ_TAP("%[r2]", "8", "256")
      "add $288, %[w]\n\t"
      "add %[plane], %[x]\n\t"
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      CQ_ACC_ALL(CQ_ACC_STORE)
      : [w] "+r"(w), [x] "+r"(x), [n] "+r"(C), [r1] "=&r"(r1), [r2] "=&r"(r2)
      : [acc] "r"(acc), [o0] "r"(o0), [o1] "r"(o1), [o2] "r"(o2), [plane] "r"(plane_b), [wp] "r"(wp_b)
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
        "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24",
        "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "cc", "memory");
}
#undef CQ_FMA3
#undef CQ_TAP
#undef CQ_ACC_STORE
#undef CQ_ACC_ALL
#undef CQ_ACC_LOAD

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
  // The output lines are written only after the reduction and are usually not cached (a fresh activation): asking
  // for them with intent to write now hides that read-for-ownership behind the reduction (measured ~3 % of a
  // 64->64 conv at 256x256 went to those misses).
  if (!(flags & kContinue))
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      if (i >= m) break;
#pragma GCC unroll 3
      for (int v = 0; v < 3; ++v)
        if (mask[v]) __builtin_prefetch(out + i * ldo + oo[v], 1, 3);
    }
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < 3; ++v)
      acc[i][v] = (flags & kContinue) && i < m ? _mm512_maskz_loadu_ps(mk[v], out + i * ldo + oo[v])
                                               : _mm512_setzero_ps();
  if (KW == 3 && kh == 3) {
    alignas(64) float buf[8 * 3 * 16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i)
#pragma GCC unroll 3
      for (int v = 0; v < 3; ++v) _mm512_store_ps(buf + (i * 3 + v) * 16, acc[i][v]);
    reduce_3x3_asm(buf, w, x, xo, C, plane, wp);
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i)
#pragma GCC unroll 3
      for (int v = 0; v < 3; ++v) acc[i][v] = _mm512_load_ps(buf + (i * 3 + v) * 16);
  } else {
    for (int64_t c = 0; c < C; ++c) {
      const float* xc = x + c * plane;
      for (int64_t ki = 0; ki < kh; ++ki) taps<KW>(w, xc + ki * wp, xo, kw, acc);
    }
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
