// CPU lab-reinhard passes in blocks of pixels: each stage is a simple loop over float arrays of one block, so the
// compiler vectorises the colour math (the pixel-at-a-time form does not). Internal to colorxfer/.
#pragma once
#include <cstdint>

#include "colorxfer/colorxfer_math.h"

namespace cq::dcin::cpuimpl {

// rows[h*7 + {0..2}] = sum over the row's mask pixels of (lab - K), {3..5} of (lab - K)^2, 6 = count. Each row is
// summed in a fixed order (float lanes within a 64-pixel block, then double), so rows do not depend on threads.
void rh_row_sums(const uint8_t* px, int64_t H, int64_t W, int thr, const float K[3], double* rows, int threads);
// out = transfer of n pixels (mask pixels; others copied: bytes, or /255 for float output).
void rh_transform_u8(const uint8_t* px, uint8_t* out, int64_t n, const cxmath::Affine& A, int thr, int threads);
void rh_transform_f32(const uint8_t* px, float* out, int64_t n, const cxmath::Affine& A, int thr, int threads);

}  // namespace cq::dcin::cpuimpl
