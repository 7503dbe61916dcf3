// Implicit-GEMM panels for the CPU conv2d: the GEMM driver asks for KC x NR panels of the im2col matrix (or of its
// transpose) and these build them straight from the image into the cache-resident packing buffer, so the full
// [C*kh*kw, OH*OW] column matrix (9x the input for 3x3) is never written to memory or allocated.
#pragma once
#include <algorithm>
#include <cstring>

#include "kernels/conv2d/conv2d_math.h"
#include "kernels/matmul/gemm.h"
#include "tensor/error.h"

namespace cq::kernels {

// out[i] = col[r, q0 + i] for i < count: row r of one image's im2col matrix over a run of output pixels, which may
// span several output rows. Inside the image a stride-1 run is one memcpy; padding is written as zeros.
template <class T>
void im2col_row_run(const Im2colGeom& m, const T* x, int64_t r, int64_t q0, int64_t count, T* out) {
  int64_t kj = r % m.kw, ki = (r / m.kw) % m.kh, c = r / (m.kw * m.kh);
  int64_t lo, hi;
  conv_valid_range(m.W, kj, m.sw, m.pl, m.OW, &lo, &hi);
  const T* xc = x + c * m.H * m.W;
  int64_t oh = q0 / m.OW, ow = q0 % m.OW, done = 0;
  while (done < count) {
    int64_t len = std::min(count - done, m.OW - ow);
    T* d = out + done;  // d[o - ow] is output column o of this output row
    int64_t ih = conv_in_coord(oh, ki, m.sh, m.pt);
    int64_t a = std::max(ow, lo), b = std::min(ow + len - 1, hi);
    if (ih < 0 || ih >= m.H || b < a) {
      std::fill(d, d + len, T(0));
    } else {
      const T* xr = xc + ih * m.W;
      std::fill(d, d + (a - ow), T(0));
      if (m.sw == 1) {
        std::memcpy(d + (a - ow), xr + conv_in_coord(a, kj, 1, m.pl), sizeof(T) * (b - a + 1));
      } else {
        for (int64_t o = a; o <= b; ++o) d[o - ow] = xr[conv_in_coord(o, kj, m.sw, m.pl)];
      }
      std::fill(d + (b + 1 - ow), d + len, T(0));
    }
    done += len;
    ow = 0;
    ++oh;
  }
}

// op(B) = col [C*kh*kw, OH*OW] of image x: the forward product out = W * col.
template <class T>
class Im2colSource final : public GemmBSource<T> {
 public:
  Im2colSource(const Im2colGeom& m, const T* x) : m_(m), x_(x) {}
  void pack(int64_t j0, int64_t jend, int64_t p0, int64_t kc, int nr, T* dst) const override {
    // One run over all requested columns per K row (the index arithmetic is per run, not per panel), then cut into
    // the nr-wide panels.
    constexpr int64_t kMaxRun = 1024;
    CQ_CHECK(jend - j0 <= kMaxRun, "Im2colSource: ", jend - j0, " columns exceed ", kMaxRun);
    int64_t cols = jend - j0, panels = (cols + nr - 1) / nr;
    alignas(64) T run[kMaxRun];
    for (int64_t p = 0; p < kc; ++p) {
      im2col_row_run(m_, x_, p0 + p, j0, cols, run);
      for (int64_t q = 0; q < panels; ++q) {
        T* d = dst + (q * kc + p) * nr;
        int64_t n = std::min<int64_t>(nr, cols - q * nr);
        std::memcpy(d, run + q * nr, sizeof(T) * n);
        std::fill(d + n, d + nr, T(0));
      }
    }
  }

 private:
  Im2colGeom m_;
  const T* x_;
};

// op(B) = col^T [OH*OW, C*kh*kw]: the weight gradient gW = G * col^T sums over output pixels.
template <class T>
class Im2colTransposedSource final : public GemmBSource<T> {
 public:
  Im2colTransposedSource(const Im2colGeom& m, const T* x) : m_(m), x_(x) {}
  void pack(int64_t j0, int64_t jend, int64_t p0, int64_t kc, int nr, T* dst) const override {
    constexpr int64_t kMaxRun = 512;
    CQ_CHECK(kc <= kMaxRun, "Im2colTransposedSource: K slab ", kc, " exceeds ", kMaxRun);
    alignas(64) T run[kMaxRun];
    int64_t panels = (jend - j0 + nr - 1) / nr;
    for (int64_t q = 0; q < panels; ++q) {
      T* d = dst + q * kc * nr;
      for (int64_t j = 0; j < nr; ++j) {
        int64_t col = j0 + q * nr + j;
        if (col < jend) {
          im2col_row_run(m_, x_, col, p0, kc, run);
          for (int64_t p = 0; p < kc; ++p) d[p * nr + j] = run[p];
        } else {
          for (int64_t p = 0; p < kc; ++p) d[p * nr + j] = T(0);
        }
      }
    }
  }

 private:
  Im2colGeom m_;
  const T* x_;
};

// The im2col rows themselves (B [C*kh*kw, OH*OW], contiguous along pixels) for the weight gradient's NT-dot form
// gW = G * col^T (gemm_cpu_nt_rows): each row run is built straight into the kernel's buffer, no transpose.
class Im2colRows final : public GemmBRows {
 public:
  Im2colRows(const Im2colGeom& m, const float* x) : m_(m), x_(x) {}
  void rows(int64_t j0, int64_t j1, int64_t k0, int64_t kc, float* dst, int64_t ld) const override {
    for (int64_t j = j0; j < j1; ++j) im2col_row_run(m_, x_, j, k0, kc, dst + (j - j0) * ld);
  }

 private:
  Im2colGeom m_;
  const float* x_;
};

}  // namespace cq::kernels
