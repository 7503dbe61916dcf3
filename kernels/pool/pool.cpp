// global_avg_pool2d and upsample_nearest2d: argument checks, device dispatch and the autograd record.
#include "kernels/pool/pool.h"

#include <vector>

#include "kernels/pool/pool_kernels.h"
#include "tensor/autograd.h"
#include "tensor/backend.h"

namespace cq {
namespace {
void check_nchw(const char* op, const Tensor& x) {
  CQ_CHECK(x.defined(), op, ": input is undefined");
  CQ_CHECK(x.dim() == 4, op, ": input must be [N, C, H, W], got ", x.describe());
  CQ_CHECK(is_floating(x.dtype()), op, ": dtype ", dtype_name(x.dtype()),
           " not supported (f32, f64 only): ", x.describe());
}
}  // namespace

Tensor global_avg_pool2d(const Tensor& x) {
  check_nchw("global_avg_pool2d", x);
  const int64_t N = x.size(0), C = x.size(1), hw = x.size(2) * x.size(3);
  CQ_CHECK(hw > 0, "global_avg_pool2d: empty spatial extent in input ", x.describe());
  Tensor xc = x.contiguous();
  Tensor y = xc.new_empty({N, C, 1, 1});
  if (x.device().is_cuda()) {
    CQ_CUDA_CALL("global_avg_pool2d", kernels::gap_forward_cuda(y, xc, N * C, hw));
  } else {
    kernels::gap_forward_cpu(y, xc, N * C, hw);
  }
  const Shape in_shape = x.shape();
  record("global_avg_pool2d", y, {xc}, [in_shape, hw](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor dx = gc.new_empty(in_shape);
    const int64_t planes = in_shape[0] * in_shape[1];
    if (gc.device().is_cuda()) {
      CQ_CUDA_CALL("global_avg_pool2d", kernels::gap_backward_cuda(dx, gc, planes, hw));
    } else {
      kernels::gap_backward_cpu(dx, gc, planes, hw);
    }
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor upsample_nearest2d(const Tensor& x, int64_t scale_h, int64_t scale_w) {
  check_nchw("upsample_nearest2d", x);
  CQ_CHECK(scale_h >= 1 && scale_w >= 1, "upsample_nearest2d: scale factors must be >= 1, got (", scale_h, ", ",
           scale_w, ") for input ", x.describe());
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Tensor xc = x.contiguous();
  Tensor y = xc.new_empty({N, C, H * scale_h, W * scale_w});
  if (x.device().is_cuda()) {
    CQ_CUDA_CALL("upsample_nearest2d", kernels::upsample_forward_cuda(y, xc, N * C, H, W, scale_h, scale_w));
  } else {
    kernels::upsample_forward_cpu(y, xc, N * C, H, W, scale_h, scale_w);
  }
  const Shape in_shape = x.shape();
  record("upsample_nearest2d", y, {xc}, [in_shape, scale_h, scale_w](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor dx = gc.new_empty(in_shape);
    const int64_t planes = in_shape[0] * in_shape[1], H = in_shape[2], W = in_shape[3];
    if (gc.device().is_cuda()) {
      CQ_CUDA_CALL("upsample_nearest2d", kernels::upsample_backward_cuda(dx, gc, planes, H, W, scale_h, scale_w));
    } else {
      kernels::upsample_backward_cpu(dx, gc, planes, H, W, scale_h, scale_w);
    }
    return std::vector<Tensor>{dx};
  });
  return y;
}

}  // namespace cq
