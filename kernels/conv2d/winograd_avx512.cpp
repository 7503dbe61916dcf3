// AVX-512 stages of Winograd F(2x2, 3x3) (see winograd.h). Tiles come in groups of 16 consecutive tiles of one
// tile row (a row of TW tiles has ceil(TW / 16) groups, the last one partial), numbered row by row; one work item
// is NT / 16 consecutive groups, which may span tile rows (a 32x32 map's rows are one group each). Vectors run over
// a group's 16 tiles, so the input transform reads each input row once per 32 columns and splits it into the
// window's even and odd columns with two permutes, and the output transform interleaves a tile row's two output
// columns back with two more. Compiled with -mavx512f -mfma only and
// called only after cpuid says AVX-512F (winograd.cpp); raw pointers only (see kernels/matmul/gemm_ukernel.h).
#include "kernels/conv2d/winograd.h"

#if defined(__AVX512F__) && defined(__FMA__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace cq::kernels::winograd {
namespace {

// Lanes l < 16 with 0 <= q + l < n (the columns of a 16-wide load at q that lie inside a row of n).
inline __mmask16 lanes_inside(int64_t q, int64_t n) {
  const int64_t lo = q < 0 ? -q : 0, hi = n - q < 16 ? n - q : 16;
  if (hi <= lo) return 0;
  const unsigned below_hi = hi >= 16 ? 0xFFFFu : (1u << hi) - 1;
  return static_cast<__mmask16>(below_hi & ~((1u << lo) - 1));
}

// Tile row and first tile of flattened group G (G < total_groups).
inline void group_origin(const Block& b, int64_t G, int64_t* ty, int64_t* tx) {
  const int64_t per_row = ((b.OW + 1) / 2 + 15) / 16;
  *ty = G / per_row;
  *tx = G % per_row * 16;
}

inline int64_t total_groups(const Block& b) { return (b.OH + 1) / 2 * (((b.OW + 1) / 2 + 15) / 16); }

// V[xi][g / 2][c][16 * (g % 2) + l] = (B^T d B)[xi] for tile l of group g0 + g, every channel c, d the tile's 4x4
// window (rows 2 ty - pt + a, columns 2 tx - pl + j; zeros outside x; a group past the last is all zeros).
// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
void input_transform(const Block& b, int64_t g0, int64_t np) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512 zero = _mm512_setzero_ps();
  const int64_t xi_stride = np * b.C * 32;  // V's stride between transform positions
  const int64_t groups = total_groups(b);
  for (int64_t g = 0; g < 2 * np; ++g) {
    int64_t ty = 0, tx = 0;
    const bool exists = g0 + g < groups;
    if (exists) group_origin(b, g0 + g, &ty, &tx);
    int64_t row_off[4];
    bool row_in[4];
    for (int a = 0; a < 4; ++a) {
      const int64_t ih = 2 * ty - b.pt + a;
      row_in[a] = exists && ih >= 0 && ih < b.H;
      row_off[a] = row_in[a] ? ih * b.W : 0;
    }
    const int64_t q0 = 2 * tx - b.pl;  // window column 0 of the group's first tile
    const __mmask16 m0 = lanes_inside(q0, b.W), m1 = lanes_inside(q0 + 16, b.W);
    const __mmask16 m2 = lanes_inside(q0 + 2, b.W), m3 = lanes_inside(q0 + 18, b.W);
    float* dst = b.V + (g / 2) * b.C * 32 + (g % 2) * 16;
    for (int64_t c = 0; c < b.C; ++c) {
      const float* plane = b.x + c * b.H * b.W + q0;  // masked lanes are never read (q0 may be -pl)
      __m512 h[4][4];
#pragma GCC unroll 4
      for (int a = 0; a < 4; ++a) {
        if (!row_in[a]) {
          h[a][0] = h[a][1] = h[a][2] = h[a][3] = zero;
          continue;
        }
        const float* r = plane + row_off[a];
        const __m512 va = _mm512_maskz_loadu_ps(m0, r), vb = _mm512_maskz_loadu_ps(m1, r + 16);
        const __m512 vc = _mm512_maskz_loadu_ps(m2, r + 2), vd = _mm512_maskz_loadu_ps(m3, r + 18);
        const __m512 d0 = _mm512_permutex2var_ps(va, even, vb), d1 = _mm512_permutex2var_ps(va, odd, vb);
        const __m512 d2 = _mm512_permutex2var_ps(vc, even, vd), d3 = _mm512_permutex2var_ps(vc, odd, vd);
        h[a][0] = _mm512_sub_ps(d0, d2);
        h[a][1] = _mm512_add_ps(d1, d2);
        h[a][2] = _mm512_sub_ps(d2, d1);
        h[a][3] = _mm512_sub_ps(d1, d3);
      }
      float* v = dst + c * 32;
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        _mm512_store_ps(v + (0 + j) * xi_stride, _mm512_sub_ps(h[0][j], h[2][j]));
        _mm512_store_ps(v + (4 + j) * xi_stride, _mm512_add_ps(h[1][j], h[2][j]));
        _mm512_store_ps(v + (8 + j) * xi_stride, _mm512_sub_ps(h[2][j], h[1][j]));
        _mm512_store_ps(v + (12 + j) * xi_stride, _mm512_sub_ps(h[1][j], h[3][j]));
      }
    }
  }
}

// c[i * 32 + j] = sum_p a[p * 8 + i] * b[p * 32 + j] for i < 8, j < 32, p < kc in order (16 accumulators).
inline void gemm_8x32(int64_t kc, const float* a, const float* bp, float* c) {
  __m512 c0[8], c1[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
    }
    a += 8;
    bp += 32;
  }
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    _mm512_store_ps(c + i * 32, c0[i]);
    _mm512_store_ps(c + i * 32 + 16, c1[i]);
  }
}

// Output row oh, columns col0 + [0, 32), of channel co from the two column phases y0 (even) and y1 (odd) of 16 tiles.
inline void store_row(const Block& b, int64_t co, int64_t oh, int64_t col0, __m512 y0, __m512 y1, __m512 s, __m512 t) {
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  __m512 r0 = _mm512_fmadd_ps(s, _mm512_permutex2var_ps(y0, lo, y1), t);
  __m512 r1 = _mm512_fmadd_ps(s, _mm512_permutex2var_ps(y0, hi, y1), t);
  if (b.relu) {
    r0 = _mm512_max_ps(r0, _mm512_setzero_ps());
    r1 = _mm512_max_ps(r1, _mm512_setzero_ps());
  }
  float* o = b.out + (co * b.OH + oh) * b.OW + col0;
  _mm512_mask_storeu_ps(o, lanes_inside(col0, b.OW), r0);
  _mm512_mask_storeu_ps(o + 16, lanes_inside(col0 + 16, b.OW), r1);
}

// Y = A^T m A for the two groups of a panel (m from M[xi][co][32]; group g0p + half), A^T = [1 1 1 0; 0 1 -1 -1],
// then the epilogue.
void output_transform(const Block& b, int64_t g0p) {
  const int64_t groups = total_groups(b);
  for (int half = 0; half < 2 && g0p + half < groups; ++half) {
    int64_t ty, tx;
    group_origin(b, g0p + half, &ty, &tx);
    const bool second_row = 2 * ty + 1 < b.OH;
    const int64_t col0 = 2 * tx;
    for (int64_t co = 0; co < b.CO; ++co) {
      const __m512 s = _mm512_set1_ps(b.scale[co]), t = _mm512_set1_ps(b.shift[co]);
      const float* m = b.M + co * 32 + 16 * half;
      __m512 t0[4], t1[4];
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const __m512 m0 = _mm512_load_ps(m + (0 + j) * b.COp * 32), m1 = _mm512_load_ps(m + (4 + j) * b.COp * 32);
        const __m512 m2 = _mm512_load_ps(m + (8 + j) * b.COp * 32), m3 = _mm512_load_ps(m + (12 + j) * b.COp * 32);
        t0[j] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
        t1[j] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
      }
      store_row(b, co, 2 * ty, col0, _mm512_add_ps(_mm512_add_ps(t0[0], t0[1]), t0[2]),
                _mm512_sub_ps(_mm512_sub_ps(t0[1], t0[2]), t0[3]), s, t);
      if (second_row)
        store_row(b, co, 2 * ty + 1, col0, _mm512_add_ps(_mm512_add_ps(t1[0], t1[1]), t1[2]),
                  _mm512_sub_ps(_mm512_sub_ps(t1[1], t1[2]), t1[3]), s, t);
    }
  }
}

void block(const Block& b, int64_t g0) {
  const int64_t np = b.NT / 32, ncop = b.COp / 8, groups = total_groups(b);
  input_transform(b, g0, np);
  for (int64_t tp = 0; tp < np && g0 + 2 * tp < groups; ++tp) {
    // The 16 products of this panel: its V slice (C x 32 per position) stays in L1 across the channel panels.
    for (int xi = 0; xi < 16; ++xi) {
      const float* v = b.V + (xi * np + tp) * b.C * 32;
      for (int64_t p = 0; p < ncop; ++p)
        gemm_8x32(b.C, b.U + (xi * ncop + p) * b.C * 8, v, b.M + (xi * b.COp + p * 8) * 32);
    }
    output_transform(b, g0 + 2 * tp);
  }
}

}  // namespace

BlockFn block_avx512() { return &block; }

}  // namespace cq::kernels::winograd

#else

namespace cq::kernels::winograd {
BlockFn block_avx512() { return nullptr; }
}  // namespace cq::kernels::winograd

#endif
