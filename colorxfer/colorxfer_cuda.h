// CUDA passes of the colour transfer (colorxfer_cuda.cu); same per-pixel math as the CPU (colorxfer_math.h).
// Only declared in CUDA builds; colorxfer.cpp dispatches on the image's device.
#pragma once
#ifdef CQ_CUDA
#include <cstdint>

#include "colorxfer/colorxfer_math.h"
#include "tensor/tensor.h"

namespace cq::dcin::cudaimpl {

// Per-row partial sums for lab-reinhard: rows[h*7 + {0..2}] = sum(lab-K), {3..5} = sum((lab-K)^2), 6 = count.
// Written to host memory; each row is reduced in a fixed tree order (deterministic).
void rh_row_sums(const Tensor& image, int mask_threshold, const float K[3], double* rows_host);
// lab-cv: the 8-bit Lab image (all pixels), copied to lab_host (H*W*3 bytes); the host reduces it in numpy's order.
void cv_lab8(const Tensor& image, const float* lin_table256, uint8_t* lab_host);
// Transforms: out is u8 (or f32 for rh_transfer_f32) HWC on the same device as image.
void rh_transfer(const Tensor& image, const Tensor& out, const cxmath::Affine& A, int mask_threshold);
void cv_transfer(const Tensor& image, const Tensor& out, const float* lin_table256, const uint8_t* lut3x256,
                 int mask_threshold);

}  // namespace cq::dcin::cudaimpl
#endif
