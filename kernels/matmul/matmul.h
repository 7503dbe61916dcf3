// Matrix product with numpy batch broadcasting.
#pragma once
#include "tensor/tensor.h"

namespace cq {

// a [..., M, K] x b [..., K, N] -> [..., M, N]; batch dims broadcast (numpy); 1-D a or b as PyTorch (prepend/append 1
// then drop): a [K] x b [..., K, N] -> [..., N], a [..., M, K] x b [K] -> [..., M], a [K] x b [K] -> [] (dot).
// f32/f64, CPU (blocked GEMM, kernels/matmul/gemm.h) and CUDA (cuBLAS). Inputs of any strides: a transposed last-two-
// axes view is read in place (no copy), other layouts are made contiguous first. Deterministic on CPU for any thread
// count. Backward: grad_a = g b^T, grad_b = a^T g, each summed over the batch axes the input was broadcast along.
Tensor matmul(const Tensor& a, const Tensor& b);

// Inference only: act(x w^T + b) in one pass, the bias and activation applied by the GEMM's epilogue while each tile
// is in cache (a Linear layer without the separate bias and activation passes). x [..., K], w [N, K], b [N] or
// undefined; act 0 identity, 1 relu, 2 silu, 3 gelu. CPU, f32; refuses inputs that need a gradient.
Tensor linear_act_infer(const Tensor& x, const Tensor& w, const Tensor& b, int act);

namespace kernels {
// out [B..., M, N] contiguous; a [B..., M, K] and b [B..., K, N] already broadcast to out's batch shape (stride-0
// batch axes allowed; the last two axes may be row- or column-major).
void matmul_cpu(const Tensor& out, const Tensor& a, const Tensor& b);
#ifdef CQ_CUDA
void matmul_cuda(const Tensor& out, const Tensor& a, const Tensor& b);
#endif
}  // namespace kernels

}  // namespace cq
