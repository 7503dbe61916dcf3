// Internal to the CPU GEMM: the per-row epilogue of GemmRowEpilogue over one output tile, compiled per ISA
// (cpu_clones.h) so the SiLU's exp vectorises.
#pragma once
#include <cstdint>

namespace cq::kernels::gemm_detail {

// c[i * ldc + j] = act(scale[i] * c[i * ldc + j] + shift[i] + col_shift[j]) + residual[i * ldr + j] for i < m,
// j < n; scale and shift start at the tile's first row, col_shift at its first column, residual at the tile's
// element; any of them may be null (1, 0, 0, 0). act: 0 identity, 1 relu, 2 silu, 3 gelu.
void row_epilogue_f32(float* c, int64_t ldc, int m, int n, const float* scale, const float* shift,
                      const float* col_shift, int act, const float* residual = nullptr, int64_t ldr = 0);

}  // namespace cq::kernels::gemm_detail
