// Internal to the CPU GEMM: the per-row epilogue of GemmRowEpilogue over one output tile, compiled per ISA
// (cpu_clones.h) so the SiLU's exp vectorises.
#pragma once
#include <cstdint>

namespace cq::kernels::gemm_detail {

// c[i * ldc + j] = act(scale[i] * c[i * ldc + j] + shift[i]) for i < m, j < n (scale, shift at the tile's first row).
void row_epilogue_f32(float* c, int64_t ldc, int m, int n, const float* scale, const float* shift, int act);

}  // namespace cq::kernels::gemm_detail
