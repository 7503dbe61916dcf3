// 2-D convolution (cross-correlation, as PyTorch), NCHW activations and OIHW weights.
#pragma once
#include "tensor/tensor.h"

namespace cq {

struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_l = 0, pad_r = 0, pad_t = 0, pad_b = 0;  // asymmetric zero padding (TF "same" needs e.g. (0,1,0,1))
  int64_t groups = 1;                                   // 1, depthwise (= C_in), or any divisor
};

// x [N, C_in, H, W] (NCHW), w [C_out, C_in/groups, kh, kw] (OIHW), bias [C_out] or undefined Tensor().
// out [N, C_out, (H + pad_t + pad_b - kh)/stride_h + 1, (W + pad_l + pad_r - kw)/stride_w + 1]. Dilation 1 only.
// groups must divide C_in and C_out. f32/f64, CPU and CUDA (cuDNN). Deterministic on CPU for any thread count.
// CPU paths: groups == C_in == C_out (depthwise, multiplier 1): direct loops; 1x1 stride-1 unpadded: a plain GEMM;
// float 3x3 stride-1 with >= 16 channels and wide rows: Winograd F(2x2,3x3) (winograd.h; rounds differently from
// the direct sum, ~1e-7 of the output's scale; CQ_CONV_WINOGRAD=0 turns it off); other float stride-1 windows on
// wide rows: a direct kernel; otherwise per image and per group an implicit GEMM (no im2col matrix is stored).
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p);

// Inference only (no autograd record; refuses inputs that would need gradients): act(scale[c] * conv2d(x, w)[c] +
// shift[c]) in one pass, the per-channel affine and activation applied to each GEMM tile while it is in cache. This
// is conv + eval-mode BatchNorm (+ ReLU/SiLU) with scale = gamma / sqrt(var + eps), shift = beta - mean * scale.
// act: 0 identity, 1 relu, 2 silu. CPU, f32, groups 1; scale and shift are [C_out] f32. residual (optional, the
// output's shape and dtype): added after the activation, in the same pass where the GEMM path runs (a block's skip
// connection).
Tensor conv2d_scale_shift_act(const Tensor& x, const Tensor& w, const Tensor& scale, const Tensor& shift, int act,
                              const Conv2dParams& p, const Tensor& residual = Tensor());

namespace kernels {
// All tensors contiguous and already shape-checked; bias may be undefined. out [N, C_out, OH, OW].
void conv2d_forward_cpu(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias,
                        const Conv2dParams& p);
// g [N, C_out, OH, OW] contiguous. Each requested gradient is a preallocated contiguous tensor of its input's shape
// (pass an undefined tensor to skip it); x is needed only for gw, w only for gx, so either may be undefined and the
// geometry comes from x_shape [N, C_in, H, W] and w_shape [C_out, C_in/groups, kh, kw].
void conv2d_backward_cpu(const Tensor& g, const Tensor& x, const Tensor& w, const Shape& x_shape,
                         const Shape& w_shape, const Conv2dParams& p, const Tensor& gx, const Tensor& gw,
                         const Tensor& gb);
void conv2d_scale_shift_act_cpu(const Tensor& out, const Tensor& x, const Tensor& w, const float* scale,
                                const float* shift, int act, const Conv2dParams& p, const float* residual);
#ifdef CQ_CUDA
void conv2d_forward_cuda(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias,
                         const Conv2dParams& p);
void conv2d_backward_cuda(const Tensor& g, const Tensor& x, const Tensor& w, const Shape& x_shape,
                          const Shape& w_shape, const Conv2dParams& p, const Tensor& gx, const Tensor& gw,
                          const Tensor& gb);
#endif
}  // namespace kernels

}  // namespace cq
