// Direct vectorised CPU depthwise convolution (groups == C_in == C_out, NCHW, weight [C, 1, kh, kw]): forward,
// grad-input, grad-weight and grad-bias. Called by conv2d_cpu.cpp; see depthwise_cpu.cpp for the method.
#pragma once
#include <cstdint>

namespace cq::kernels {

// One depthwise convolution: x [N, C, H, W] -> out [N, C, OH, OW]; top / left zero padding pt, pl (the bottom / right
// padding is implied by OH, OW).
struct DepthwiseGeom {
  int64_t N, C, H, W, kh, kw, OH, OW, sh, sw, pt, pl;
};

// out = depthwise(x, w) + bias (bias may be null). Bit-identical for any thread count.
template <class T>
void depthwise_forward_cpu(const DepthwiseGeom& g, const T* x, const T* w, const T* bias, T* out, int threads);

// Gradients from gout [N, C, OH, OW]; each of gx [N, C, H, W] (needs w), gw [C, kh*kw] (needs x) and gb [C] may be
// null (not wanted). Overwrites what it computes. Bit-identical for any thread count.
template <class T>
void depthwise_backward_cpu(const DepthwiseGeom& g, const T* gout, const T* x, const T* w, T* gx, T* gw, T* gb,
                            int threads);

}  // namespace cq::kernels
