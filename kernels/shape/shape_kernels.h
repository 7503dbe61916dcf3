// Kernel entry points of the shape family (internal: the ops in shape.h validate and call these). Outputs are fresh
// contiguous tensors; inputs may be strided unless noted; index tensors are contiguous i64 on the same device.
#pragma once
#include <vector>

#include "kernels/shape/shape_math.h"
#include "tensor/tensor.h"

namespace cq::kernels {

// out [outer, sum n_k, inner]; xs[k] [outer, n_k, inner] viewed from their real shapes.
void concat_cpu(const Tensor& out, const std::vector<Tensor>& xs, int64_t axis);
void pad_cpu(const Tensor& out, const Tensor& x, const shape_math::PadGeom& g, double value);
void roll_cpu(const Tensor& out, const Tensor& x, const shape_math::RollGeom& g);
void gather_cpu(const Tensor& out, const Tensor& x, const Tensor& index, const shape_math::GatherGeom& g);
// gx: zero-filled contiguous [x_shape]; gout, index: contiguous [idx_shape].
void gather_backward_cpu(const Tensor& gx, const Tensor& gout, const Tensor& index, const shape_math::GatherGeom& g);
void index_select_cpu(const Tensor& out, const Tensor& x, const Tensor& index, const shape_math::IndexSelectGeom& g);
// gx: contiguous [outer, n, inner]; gout: contiguous [outer, m, inner]; start [n+1], rows [m] (see shape_math.h).
void index_select_backward_cpu(const Tensor& gx, const Tensor& gout, const Tensor& start, const Tensor& rows,
                               int64_t outer, int64_t n, int64_t m, int64_t inner);
void one_hot_cpu(const Tensor& out, const Tensor& index, int64_t classes);

#ifdef CQ_CUDA
void concat_cuda(const Tensor& out, const std::vector<Tensor>& xs, int64_t axis);
void pad_cuda(const Tensor& out, const Tensor& x, const shape_math::PadGeom& g, double value);
void roll_cuda(const Tensor& out, const Tensor& x, const shape_math::RollGeom& g);
void gather_cuda(const Tensor& out, const Tensor& x, const Tensor& index, const shape_math::GatherGeom& g);
void gather_backward_cuda(const Tensor& gx, const Tensor& gout, const Tensor& index, const shape_math::GatherGeom& g);
void index_select_cuda(const Tensor& out, const Tensor& x, const Tensor& index, const shape_math::IndexSelectGeom& g);
void index_select_backward_cuda(const Tensor& gx, const Tensor& gout, const Tensor& start, const Tensor& rows,
                                int64_t outer, int64_t n, int64_t m, int64_t inner);
void one_hot_cuda(const Tensor& out, const Tensor& index, int64_t classes);
#endif

}  // namespace cq::kernels
