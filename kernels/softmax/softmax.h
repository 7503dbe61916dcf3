// softmax and log_softmax over one axis (negative allowed; a 0-dim x takes axis 0 or -1). f32/f64; the result has
// x's shape and dtype and is contiguous. Numerically stable: the row maximum is subtracted before exp, and the sum
// of exponentials accumulates in double in a fixed order (deterministic for any thread count).
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace cq {

Tensor softmax(const Tensor& x, int64_t axis);
Tensor log_softmax(const Tensor& x, int64_t axis);

namespace kernels {
// x, y, g, gin contiguous, read as [outer, L, inner] with the softmax axis of length L in the middle.
// Forward: y = softmax(x) (or log_softmax when log). Backward: gin from the saved output y and the output gradient g.
void softmax_cpu(const Tensor& y, const Tensor& x, int64_t outer, int64_t L, int64_t inner, bool log);
void softmax_backward_cpu(const Tensor& gin, const Tensor& y, const Tensor& g, int64_t outer, int64_t L,
                          int64_t inner, bool log);
#ifdef CQ_CUDA
void softmax_cuda(const Tensor& y, const Tensor& x, int64_t outer, int64_t L, int64_t inner, bool log);
void softmax_backward_cuda(const Tensor& gin, const Tensor& y, const Tensor& g, int64_t outer, int64_t L,
                           int64_t inner, bool log);
#endif
}  // namespace kernels

}  // namespace cq
