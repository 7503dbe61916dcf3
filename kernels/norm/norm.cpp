// batch_norm and layer_norm: argument checks, device dispatch and the autograd record (backward rules use this
// family's kernels only).
#include "kernels/norm/norm.h"

#include <vector>

#include "kernels/norm/norm_kernels.h"
#include "tensor/autograd.h"
#include "tensor/backend.h"

namespace cq {
namespace {

std::vector<Tensor> defined_only(std::initializer_list<Tensor> ts) {
  std::vector<Tensor> out;
  for (const auto& t : ts)
    if (t.defined()) out.push_back(t);
  return out;
}

// A [C]-shaped per-channel parameter of batch_norm, or undefined.
void check_channel_param(const char* what, const Tensor& p, const Tensor& x, int64_t C) {
  if (!p.defined()) return;
  CQ_CHECK(p.dim() == 1 && p.size(0) == C, "batch_norm: ", what, " ", p.describe(),
           " does not match the channel count ", C, " of input ", x.describe(), " (expected [", C, "])");
}

Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? t.contiguous() : Tensor(); }

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps) {
  CQ_CHECK(x.defined(), "batch_norm: input is undefined");
  CQ_CHECK(x.dim() >= 2, "batch_norm: input must be [N, C, *], got ", x.describe());
  const std::vector<Tensor> all = defined_only({x, weight, bias, running_mean, running_var});
  check_same_device("batch_norm", all);
  check_same_dtype("batch_norm", all);
  CQ_CHECK(is_floating(x.dtype()), "batch_norm: dtype ", dtype_name(x.dtype()),
           " not supported (f32, f64 only): ", x.describe());
  const int64_t N = x.size(0), C = x.size(1);
  const int64_t S = C == 0 || N == 0 ? 0 : x.numel() / (N * C);
  check_channel_param("weight", weight, x, C);
  check_channel_param("bias", bias, x, C);
  check_channel_param("running_mean", running_mean, x, C);
  check_channel_param("running_var", running_var, x, C);
  CQ_CHECK(running_mean.defined() == running_var.defined(),
           "batch_norm: running_mean and running_var must be both defined or both undefined");
  CQ_CHECK(training || running_mean.defined(),
           "batch_norm: eval mode (training=false) needs running_mean and "
           "running_var, input ",
           x.describe());
  CQ_CHECK(!training || N * S > 1, "batch_norm: expected more than 1 value per channel when training, got input ",
           x.describe());

  const kernels::BnDims d{N, C, S};
  const bool cuda = x.device().is_cuda();
  Tensor xc = x.contiguous(), wc = contiguous_or_undefined(weight), bc = contiguous_or_undefined(bias);
  Tensor mean = xc.new_empty({C}, DType::f64), rstd = xc.new_empty({C}, DType::f64);
  if (training) {
    // The update writes running stats in place; a non-contiguous one is updated through a contiguous copy.
    Tensor rm = running_mean.defined() ? running_mean.detach().contiguous() : Tensor();
    Tensor rv = running_var.defined() ? running_var.detach().contiguous() : Tensor();
    if (cuda) {
      CQ_CUDA_CALL("batch_norm", kernels::bn_stats_cuda(xc, mean, rstd, rm, rv, d, momentum, eps));
    } else {
      kernels::bn_stats_cpu(xc, mean, rstd, rm, rv, d, momentum, eps);
    }
    if (rm.defined() && rm.storage() != running_mean.storage()) running_mean.detach().copy_(rm);
    if (rv.defined() && rv.storage() != running_var.storage()) running_var.detach().copy_(rv);
  } else {
    Tensor rm = running_mean.detach().contiguous(), rv = running_var.detach().contiguous();
    if (cuda) {
      CQ_CUDA_CALL("batch_norm", kernels::bn_eval_stats_cuda(mean, rstd, rm, rv, eps));
    } else {
      kernels::bn_eval_stats_cpu(mean, rstd, rm, rv, eps);
    }
  }

  Tensor y = xc.new_empty(xc.shape());
  if (cuda) {
    CQ_CUDA_CALL("batch_norm", kernels::bn_apply_cuda(y, xc, mean, rstd, wc, bc, d));
  } else {
    kernels::bn_apply_cpu(y, xc, mean, rstd, wc, bc, d);
  }

  const bool has_w = wc.defined(), has_b = bc.defined();
  record(
      "batch_norm", y, {xc, wc, bc},
      [xd = xc.detach(), wd = has_w ? wc.detach() : Tensor(), mean, rstd, d, training, has_w, has_b](const Tensor& g) {
        Tensor gc = g.contiguous();
        Tensor dx = xd.new_empty(xd.shape()), dw = xd.new_empty({d.C}), db = xd.new_empty({d.C});
        if (xd.device().is_cuda()) {
          CQ_CUDA_CALL("batch_norm", kernels::bn_backward_cuda(dx, dw, db, gc, xd, mean, rstd, wd, d, training));
        } else {
          kernels::bn_backward_cpu(dx, dw, db, gc, xd, mean, rstd, wd, d, training);
        }
        return std::vector<Tensor>{dx, has_w ? dw : Tensor(), has_b ? db : Tensor()};
      });
  return y;
}

Tensor layer_norm(const Tensor& x, int64_t normalized_dims, const Tensor& weight, const Tensor& bias, double eps) {
  CQ_CHECK(x.defined(), "layer_norm: input is undefined");
  CQ_CHECK(normalized_dims >= 1 && normalized_dims <= x.dim(), "layer_norm: normalized_dims ", normalized_dims,
           " out of range [1, ", x.dim(), "] for input ", x.describe());
  const std::vector<Tensor> all = defined_only({x, weight, bias});
  check_same_device("layer_norm", all);
  check_same_dtype("layer_norm", all);
  CQ_CHECK(is_floating(x.dtype()), "layer_norm: dtype ", dtype_name(x.dtype()),
           " not supported (f32, f64 only): ", x.describe());
  const Shape tail(x.shape().end() - normalized_dims, x.shape().end());
  for (const Tensor* p : {&weight, &bias})
    CQ_CHECK(!p->defined() || p->shape() == tail, "layer_norm: ", p == &weight ? "weight " : "bias ", p->describe(),
             " does not match the normalized shape ", shape_str(tail), " of input ", x.describe());
  const int64_t D = shape_numel(tail);
  const int64_t M = D == 0 ? 0 : x.numel() / D;

  Tensor xc = x.contiguous(), wc = contiguous_or_undefined(weight), bc = contiguous_or_undefined(bias);
  Tensor y = xc.new_empty(xc.shape());
  Tensor mean = xc.new_empty({M}, DType::f64), rstd = xc.new_empty({M}, DType::f64);
  if (x.device().is_cuda()) {
    CQ_CUDA_CALL("layer_norm", kernels::ln_forward_cuda(y, mean, rstd, xc, wc, bc, M, D, eps));
  } else {
    kernels::ln_forward_cpu(y, mean, rstd, xc, wc, bc, M, D, eps);
  }

  const bool has_w = wc.defined(), has_b = bc.defined();
  record(
      "layer_norm", y, {xc, wc, bc},
      [xd = xc.detach(), wd = has_w ? wc.detach() : Tensor(), mean, rstd, tail, M, D, has_w, has_b](const Tensor& g) {
        Tensor gc = g.contiguous();
        Tensor dx = xd.new_empty(xd.shape());
        Tensor dw = has_w ? xd.new_empty(tail) : Tensor(), db = has_b ? xd.new_empty(tail) : Tensor();
        if (xd.device().is_cuda()) {
          CQ_CUDA_CALL("layer_norm", kernels::ln_backward_cuda(dx, dw, db, gc, xd, mean, rstd, wd, M, D));
        } else {
          kernels::ln_backward_cpu(dx, dw, db, gc, xd, mean, rstd, wd, M, D);
        }
        return std::vector<Tensor>{dx, dw, db};
      });
  return y;
}

}  // namespace cq
