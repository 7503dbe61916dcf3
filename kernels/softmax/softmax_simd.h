// Vectorised float softmax over contiguous rows (the attention case: last axis, inner = 1), chosen at run time per
// ISA (cpu_clones.h). Same formulas as softmax_math.h except exp: ew::exp_fast (2 ulp, no libm call, vectorises).
#pragma once
#include <cstdint>

namespace cq::kernels::simd {

// y[r, :] = softmax(x[r, :]) for rows r < rows of length L (row-major, contiguous). The row sum accumulates in
// double in 8 fixed lanes combined in a fixed order: deterministic, independent of the thread count.
void softmax_rows_f32(const float* x, float* y, int64_t rows, int64_t L);

}  // namespace cq::kernels::simd
