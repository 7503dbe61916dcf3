// batch_norm_act: argument checks, device dispatch and the autograd record. The CPU runs the fused kernels of
// norm_act_cpu.cpp; CUDA composes the batch_norm and elementwise kernels (same results, not fused).
#include "kernels/norm/norm_act.h"

#include <vector>

#include "kernels/elementwise/elementwise_kernels.h"
#include "kernels/norm/norm_kernels.h"
#include "tensor/autograd.h"
#include "tensor/backend.h"

namespace cq {
namespace {

Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? t.contiguous() : Tensor(); }

void check_args(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                const Tensor& running_var, bool training) {
  CQ_CHECK(x.defined(), "batch_norm_act: input is undefined");
  CQ_CHECK(x.dim() >= 2, "batch_norm_act: input must be [N, C, *], got ", x.describe());
  std::vector<Tensor> all{x};
  for (const Tensor* t : {&weight, &bias, &running_mean, &running_var})
    if (t->defined()) all.push_back(*t);
  check_same_device("batch_norm_act", all);
  check_same_dtype("batch_norm_act", all);
  CQ_CHECK(is_floating(x.dtype()), "batch_norm_act: dtype ", dtype_name(x.dtype()),
           " not supported (f32, f64 only): ", x.describe());
  const int64_t C = x.size(1);
  const char* names[] = {"weight", "bias", "running_mean", "running_var"};
  const Tensor* ps[] = {&weight, &bias, &running_mean, &running_var};
  for (int i = 0; i < 4; ++i)
    CQ_CHECK(!ps[i]->defined() || (ps[i]->dim() == 1 && ps[i]->size(0) == C), "batch_norm_act: ", names[i], " ",
             ps[i]->describe(), " does not match the channel count ", C, " of input ", x.describe(), " (expected [",
             C, "])");
  CQ_CHECK(running_mean.defined() == running_var.defined(),
           "batch_norm_act: running_mean and running_var must be both defined or both undefined");
  CQ_CHECK(training || running_mean.defined(),
           "batch_norm_act: eval mode (training=false) needs running_mean and running_var, input ", x.describe());
  const int64_t N = x.size(0), S = C == 0 || N == 0 ? 0 : x.numel() / (N * C);
  CQ_CHECK(!training || N * S > 1, "batch_norm_act: expected more than 1 value per channel when training, got input ",
           x.describe());
}

#ifdef CQ_CUDA
// y (in place) = act(y) on the GPU; dz = act'(z) * g.
void act_cuda(NormAct act, const Tensor& y) {
  if (act == NormAct::relu) kernels::unary_cuda(ew::UnaryOp::relu, {}, y, y);
  if (act == NormAct::silu) kernels::unary_cuda(ew::UnaryOp::silu, {}, y, y);
}
Tensor act_grad_cuda(NormAct act, const Tensor& g, const Tensor& z) {
  if (act == NormAct::identity) return g;
  Tensor dz = g.new_empty(g.shape());
  // relu's derivative reads relu(z), positive exactly where z is.
  kernels::unary_grad_cuda(act == NormAct::relu ? ew::UnaryOp::relu : ew::UnaryOp::silu, {}, dz, g, z);
  return dz;
}
#endif

}  // namespace

NormAct norm_act_from_name(const std::string& name) {
  if (name == "identity") return NormAct::identity;
  if (name == "relu") return NormAct::relu;
  if (name == "silu" || name == "swish") return NormAct::silu;
  fail("batch_norm_act: unknown activation '", name, "' (identity, relu, silu)");
}

const char* norm_act_name(NormAct act) {
  switch (act) {
    case NormAct::relu: return "relu";
    case NormAct::silu: return "silu";
    case NormAct::identity: break;
  }
  return "identity";
}

Tensor batch_norm_act(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                      const Tensor& running_var, bool training, double momentum, double eps, NormAct act) {
  check_args(x, weight, bias, running_mean, running_var, training);
  const int64_t N = x.size(0), C = x.size(1);
  const kernels::BnDims d{N, C, C == 0 || N == 0 ? 0 : x.numel() / (N * C)};
  const bool cuda = x.device().is_cuda();
  Tensor xc = x.contiguous(), wc = contiguous_or_undefined(weight), bc = contiguous_or_undefined(bias);
  Tensor mean = xc.new_empty({C}, DType::f64), rstd = xc.new_empty({C}, DType::f64);
  if (training) {
    // The update writes running stats in place; a non-contiguous one is updated through a contiguous copy.
    Tensor rm = running_mean.defined() ? running_mean.detach().contiguous() : Tensor();
    Tensor rv = running_var.defined() ? running_var.detach().contiguous() : Tensor();
    if (cuda) {
      CQ_CUDA_CALL("batch_norm_act", kernels::bn_stats_cuda(xc, mean, rstd, rm, rv, d, momentum, eps));
    } else {
      kernels::bna_stats_cpu(xc, mean, rstd, rm, rv, d, momentum, eps);
    }
    if (rm.defined() && rm.storage() != running_mean.storage()) running_mean.detach().copy_(rm);
    if (rv.defined() && rv.storage() != running_var.storage()) running_var.detach().copy_(rv);
  } else {
    Tensor rm = running_mean.detach().contiguous(), rv = running_var.detach().contiguous();
    if (cuda) {
      CQ_CUDA_CALL("batch_norm_act", kernels::bn_eval_stats_cuda(mean, rstd, rm, rv, eps));
    } else {
      kernels::bn_eval_stats_cpu(mean, rstd, rm, rv, eps);
    }
  }

  Tensor y = xc.new_empty(xc.shape());
  if (cuda) {
    CQ_CUDA_CALL("batch_norm_act", kernels::bn_apply_cuda(y, xc, mean, rstd, wc, bc, d); act_cuda(act, y));
  } else {
    kernels::bna_apply_cpu(y, xc, mean, rstd, wc, bc, d, act);
  }

  const bool has_w = wc.defined(), has_b = bc.defined();
  record("batch_norm_act", y, {xc, wc, bc},
         [xd = xc.detach(), wd = has_w ? wc.detach() : Tensor(), bd = has_b ? bc.detach() : Tensor(), mean, rstd, d,
          training, act, has_w, has_b](const Tensor& g) {
           Tensor gc = g.contiguous();
           Tensor dx = xd.new_empty(xd.shape()), dw = xd.new_empty({d.C}), db = xd.new_empty({d.C});
           if (xd.device().is_cuda()) {
             CQ_CUDA_CALL("batch_norm_act", Tensor z = xd.new_empty(xd.shape());
                          kernels::bn_apply_cuda(z, xd, mean, rstd, wd, bd, d);
                          kernels::bn_backward_cuda(dx, dw, db, act_grad_cuda(act, gc, z), xd, mean, rstd, wd, d,
                                                    training));
           } else {
             kernels::bna_backward_cpu(dx, dw, db, gc, xd, mean, rstd, wd, bd, d, training, act);
           }
           return std::vector<Tensor>{dx, has_w ? dw : Tensor(), has_b ? db : Tensor()};
         });
  return y;
}

}  // namespace cq
