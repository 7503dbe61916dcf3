// GCC keeps "x > c ? a : b" as a branch under the default -ftrapping-math (a vector compare could raise an FP flag
// the scalar code would not), which blocks vectorising the colour math. No code here reads FP flags, and results
// are unchanged (IEEE operations round the same), so this file alone opts out.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "colorxfer/colorxfer_cpu.h"

#include <algorithm>

namespace cq::dcin::cpuimpl {

using namespace cxmath;

namespace {
constexpr int kB = 64;

// Block of n <= kB pixels -> lab[3][kB] and mask weights (1 inside, 0 outside).
inline void lab_block(const uint8_t* p, int n, int thr, float lab[3][kB], float w[kB]) {
  float r[kB], g[kB], b[kB];
  for (int i = 0; i < n; ++i) {
    r[i] = p[3 * i], g[i] = p[3 * i + 1], b[i] = p[3 * i + 2];
    w[i] = in_mask(p + 3 * i, thr) ? 1.0f : 0.0f;
  }
  for (int i = 0; i < n; ++i) rh_rgb_to_lab3(r[i], g[i], b[i], lab[0][i], lab[1][i], lab[2][i]);
}
}  // namespace

void rh_row_sums(const uint8_t* px, int64_t H, int64_t W, int thr, const float K[3], double* rows, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t h = 0; h < H; ++h) {
    double s[7] = {0, 0, 0, 0, 0, 0, 0};
    alignas(16) float lab[3][kB];
    alignas(16) float w[kB];
    for (int64_t w0 = 0; w0 < W; w0 += kB) {
      const int n = static_cast<int>(std::min<int64_t>(kB, W - w0));
      lab_block(px + (h * W + w0) * 3, n, thr, lab, w);
      for (int i = n; i < kB; ++i) {  // pad: weight 0
        w[i] = 0.0f;
        lab[0][i] = lab[1][i] = lab[2][i] = 0.0f;
      }
      // Double lanes: float partial sums would break the sum(d^2) - n mean^2 cancellation (a constant channel
      // must come out with std ~0).
      double acc[7][4] = {};
      for (int i = 0; i < kB; i += 4)
        for (int j = 0; j < 4; ++j) {
          const double wi = w[i + j];
          for (int c = 0; c < 3; ++c) {
            const double d = (static_cast<double>(lab[c][i + j]) - K[c]) * wi;
            acc[c][j] += d;
            acc[3 + c][j] += d * d;
          }
          acc[6][j] += wi;
        }
      for (int k = 0; k < 7; ++k) s[k] += (acc[k][0] + acc[k][1]) + (acc[k][2] + acc[k][3]);
    }
    std::copy(s, s + 7, rows + h * 7);
  }
}

namespace {
template <class OutT>
void transform(const uint8_t* px, OutT* out, int64_t n, const Affine& A, int thr, int threads) {
  const int64_t nb = (n + kB - 1) / kB;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t bi = 0; bi < nb; ++bi) {
    const int64_t i0 = bi * kB;
    const int m = static_cast<int>(std::min<int64_t>(kB, n - i0));
    const uint8_t* p = px + i0 * 3;
    OutT* o = out + i0 * 3;
    alignas(16) float lab[3][kB];
    alignas(16) float w[kB];
    alignas(16) float rgb[3][kB];
    lab_block(p, m, thr, lab, w);
    const float s0 = A.scale[0], s1 = A.scale[1], s2 = A.scale[2];
    const float h0 = A.shift[0], h1 = A.shift[1], h2 = A.shift[2];
    for (int i = 0; i < m; ++i)
      rh_lab_to_rgb3(lab[0][i] * s0 + h0, lab[1][i] * s1 + h1, lab[2][i] * s2 + h2, rgb[0][i], rgb[1][i], rgb[2][i]);
    for (int i = 0; i < m; ++i)
      for (int c = 0; c < 3; ++c) {
        if constexpr (sizeof(OutT) == 1)
          o[3 * i + c] = w[i] != 0.0f ? unit_to_u8(rgb[c][i]) : p[3 * i + c];
        else
          o[3 * i + c] = w[i] != 0.0f ? rgb[c][i] : static_cast<float>(p[3 * i + c]) / 255.0f;
      }
  }
}
}  // namespace

void rh_transform_u8(const uint8_t* px, uint8_t* out, int64_t n, const Affine& A, int thr, int threads) {
  transform(px, out, n, A, thr, threads);
}
void rh_transform_f32(const uint8_t* px, float* out, int64_t n, const Affine& A, int thr, int threads) {
  transform(px, out, n, A, thr, threads);
}

}  // namespace cq::dcin::cpuimpl
