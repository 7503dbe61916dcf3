// See winograd.h. This file transforms the weights, sizes the blocks and splits them over threads; the arithmetic
// on the image is in winograd_avx512.cpp.
#include "kernels/conv2d/winograd.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/matmul/gemm.h"
#include "kernels/matmul/gemm_epilogue.h"
#include "tensor/error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace cq::kernels::winograd {
namespace {

constexpr int64_t kLanes = 16;
// A thread's transformed input (16 x C x NT floats) is kept within a quarter of a 2 MiB L2: NT tiles per work item.
constexpr int64_t kVBytes = int64_t(512) << 10;

// Groups of 16 tiles along one tile row (winograd_avx512.cpp): ceil(TW / 16) per row.
int64_t groups_per_row(int64_t OW) { return ((OW + 1) / 2 + 15) / 16; }

int64_t tiles_per_item(int64_t C, int64_t OH, int64_t OW) {
  const int64_t groups = (OH + 1) / 2 * groups_per_row(OW);
  const int64_t budget = std::max<int64_t>(32, kVBytes / (16 * int64_t(sizeof(float)) * C) / 32 * 32);
  return std::min<int64_t>({budget, 128, (groups * 16 + 31) / 32 * 32});
}

int64_t padded_co(int64_t CO) { return (CO + 7) / 8 * 8; }

// U[xi][co / 8][c][co % 8] = (G g G^T)[xi] for g = w[co, c] (3x3), G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]; rows
// co >= CO are zero. In double, rounded once to float.
void transform_weights(const float* w, int64_t C, int64_t CO, float* U, int threads) {
  const int64_t COp = padded_co(CO), ncop = COp / 8;
#pragma omp parallel for num_threads(threads) if (threads > 1 && COp * C >= 256)
  for (int64_t co = 0; co < COp; ++co)
    for (int64_t c = 0; c < C; ++c) {
      double u[16] = {};
      if (co < CO) {
        const float* g = w + (co * C + c) * 9;
        double t[4][3];
        for (int j = 0; j < 3; ++j) {
          t[0][j] = g[j];
          t[1][j] = 0.5 * (double(g[j]) + g[3 + j] + g[6 + j]);
          t[2][j] = 0.5 * (double(g[j]) - g[3 + j] + g[6 + j]);
          t[3][j] = g[6 + j];
        }
        for (int i = 0; i < 4; ++i) {
          u[4 * i + 0] = t[i][0];
          u[4 * i + 1] = 0.5 * (t[i][0] + t[i][1] + t[i][2]);
          u[4 * i + 2] = 0.5 * (t[i][0] - t[i][1] + t[i][2]);
          u[4 * i + 3] = t[i][2];
        }
      }
      for (int xi = 0; xi < 16; ++xi) U[((xi * ncop + co / 8) * C + c) * 8 + co % 8] = static_cast<float>(u[xi]);
    }
}

bool enabled_by_environment() {
  // Read once per process (a constant of the run, like the CPU's instruction set).
  static const bool on = [] {
    const char* v = std::getenv("CQ_CONV_WINOGRAD");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return on;
}

float* align64(float* p) {
  return p + (kLanes - (reinterpret_cast<uintptr_t>(p) / sizeof(float)) % kLanes) % kLanes;
}

}  // namespace

bool available() { return cpu_isa() == CpuIsa::avx512 && block_avx512() != nullptr; }

bool enabled() { return available() && enabled_by_environment(); }

bool preferred(int64_t C, int64_t CO, int64_t OH, int64_t OW) {
  // Tiles go 16 to a vector along a tile row: rows of tiles that leave more than a quarter of their last group empty
  // (8 tiles: a 16x16 map) waste too much, and fewer than 16 channels leave the 16 GEMMs too short; there the
  // direct kernel or the implicit GEMM is faster (BM_Conv3x3Decoder, docs/PERFORMANCE.md).
  const int64_t tw = (OW + 1) / 2;
  return C >= 16 && CO >= 16 && OH >= 2 && 3 * groups_per_row(OW) * 16 <= 4 * tw && enabled_by_environment() &&
         available();
}

int64_t scratch_floats(int64_t C, int64_t CO, int64_t OH, int64_t OW, int threads) {
  const int64_t NT = tiles_per_item(C, OH, OW), COp = padded_co(CO);
  const int64_t per_thread = 16 * NT * C + 16 * COp * 32;
  return 16 * COp * C + std::max(threads, 1) * per_thread + kLanes;
}

void conv3x3(const float* x, int64_t C, int64_t H, int64_t W, const float* w, int64_t CO, int64_t pt, int64_t pl,
             float* out, int64_t OH, int64_t OW, const float* scale, const float* shift, int act, float* scratch,
             int threads) {
  BlockFn run = block_avx512();
  CQ_CHECK(run && available(), "winograd conv: needs AVX-512");
  CQ_CHECK(pt >= 0 && pl >= 0 && C > 0 && CO > 0, "winograd conv: bad geometry");
  if (OH <= 0 || OW <= 0) return;
  threads = std::max(threads, 1);
  const int64_t NT = tiles_per_item(C, OH, OW), COp = padded_co(CO);
  // Every buffer size is a multiple of 16 floats, so all of them stay 64-byte aligned.
  float* U = align64(scratch);
  float* bufs = U + 16 * COp * C;
  if (w) transform_weights(w, C, CO, U, threads);
  std::vector<float> ones(static_cast<size_t>(CO), 1.0f), zeros(static_cast<size_t>(CO), 0.0f);
  const int64_t per_row = groups_per_row(OW), groups = (OH + 1) / 2 * per_row, per_item = NT / 16;
  const int64_t items = (groups + per_item - 1) / per_item;
  const bool par = threads > 1 && CO * C * OH * OW >= (int64_t(1) << 18) && items > 1;
#pragma omp parallel num_threads(threads) if (par)
  {
    int tid = 0, nt = 1;
#ifdef _OPENMP
    tid = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    Block b{x, C, H, W, pt, pl, U, CO, COp, out, OH, OW, scale ? scale : ones.data(), shift ? shift : zeros.data(),
            act == 1, nullptr, nullptr, NT};
    b.V = bufs + tid * (16 * NT * C + 16 * COp * 32);
    b.M = b.V + 16 * NT * C;
    // A contiguous range of work items per thread (consecutive tile rows share two input rows in cache).
    const int64_t per = (items + nt - 1) / nt, lo = std::min(items, tid * per), hi = std::min(items, lo + per);
    for (int64_t item = lo; item < hi; ++item) {
      run(b, item * per_item);
      if (act != 2) continue;
      for (int64_t G = item * per_item; G < std::min(groups, (item + 1) * per_item); ++G) {
        const int64_t ty = G / per_row, c0 = G % per_row * 32, n = std::min<int64_t>(OW - c0, 32);
        for (int64_t oh = 2 * ty; oh < std::min(OH, 2 * ty + 2); ++oh)
          gemm_detail::row_epilogue_f32(out + oh * OW + c0, OH * OW, static_cast<int>(CO), static_cast<int>(n),
                                        nullptr, nullptr, nullptr, 2);
      }
    }
  }
}

}  // namespace cq::kernels::winograd
