// conv2d: argument checks, shape rule, device dispatch and the autograd record.
#include "kernels/conv2d/conv2d.h"

#include <sstream>

#include "kernels/conv2d/conv2d_math.h"
#include "tensor/autograd.h"
#include "tensor/backend.h"

namespace cq {
namespace {

std::string params_str(const Conv2dParams& p) {
  std::ostringstream os;
  os << "stride (" << p.stride_h << "," << p.stride_w << "), pad (l,r,t,b) = (" << p.pad_l << "," << p.pad_r << ","
     << p.pad_t << "," << p.pad_b << "), groups " << p.groups;
  return os.str();
}

void check_args(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) {
  CQ_CHECK(x.defined() && w.defined(), "conv2d: undefined input or weight");
  std::vector<Tensor> all{x, w};
  if (bias.defined()) all.push_back(bias);
  check_same_device("conv2d", all);
  check_same_dtype("conv2d", all);
  CQ_CHECK(is_floating(x.dtype()), "conv2d: dtype ", dtype_name(x.dtype()), " not supported (f32, f64 only): x ",
           x.describe());
  CQ_CHECK(x.dim() == 4, "conv2d: input must be 4-D [N, C_in, H, W], got ", x.describe());
  CQ_CHECK(w.dim() == 4, "conv2d: weight must be 4-D [C_out, C_in/groups, kh, kw], got ", w.describe());
  CQ_CHECK(p.stride_h >= 1 && p.stride_w >= 1 && p.pad_l >= 0 && p.pad_r >= 0 && p.pad_t >= 0 && p.pad_b >= 0,
           "conv2d: strides must be >= 1 and pads >= 0, got ", params_str(p));
  int64_t C = x.shape()[1], CO = w.shape()[0], G = p.groups;
  CQ_CHECK(G >= 1 && C % G == 0 && CO % G == 0, "conv2d: groups ", G, " must divide both input channels (x ",
           x.describe(), ") and output channels (weight ", w.describe(), ")");
  CQ_CHECK(w.shape()[1] * G == C, "conv2d: channel mismatch: input x ", x.describe(), " has ", C,
           " channels but weight ", w.describe(), " with groups ", G, " expects ", w.shape()[1] * G);
  CQ_CHECK(w.shape()[2] >= 1 && w.shape()[3] >= 1, "conv2d: empty kernel in weight ", w.describe());
  if (bias.defined())
    CQ_CHECK(bias.dim() == 1 && bias.shape()[0] == CO, "conv2d: bias ", bias.describe(), " must be [", CO,
             "] for weight ", w.describe());
  int64_t Hp = x.shape()[2] + p.pad_t + p.pad_b, Wp = x.shape()[3] + p.pad_l + p.pad_r;
  CQ_CHECK(Hp >= w.shape()[2] && Wp >= w.shape()[3], "conv2d: kernel of weight ", w.describe(),
           " is larger than the padded input ", x.describe(), " (", params_str(p), ")");
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) {
  check_args(x, w, bias, p);
  int64_t OH = kernels::conv_out_size(x.shape()[2], w.shape()[2], p.stride_h, p.pad_t, p.pad_b);
  int64_t OW = kernels::conv_out_size(x.shape()[3], w.shape()[3], p.stride_w, p.pad_l, p.pad_r);
  // Graph-free contiguous operands for the kernels; the record below attaches to the caller's tensors.
  Tensor xc = x.detach().contiguous(), wc = w.detach().contiguous();
  Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
  Tensor out = x.new_empty({x.shape()[0], w.shape()[0], OH, OW});
  if (x.device().is_cuda()) {
    CQ_CUDA_CALL("conv2d", kernels::conv2d_forward_cuda(out, xc, wc, bc, p));
  } else {
    kernels::conv2d_forward_cpu(out, xc, wc, bc, p);
  }

  bool need_x = x.requires_grad(), need_w = w.requires_grad(), need_b = bias.defined() && bias.requires_grad();
  // Save only what the gradients need: x for grad_w, w for grad_x.
  Tensor sx = need_w ? xc : Tensor(), sw = need_x ? wc : Tensor();
  Shape x_shape = x.shape(), w_shape = w.shape();
  record("conv2d", out, {x, w, bias}, [=](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor gx = need_x ? g.new_empty(x_shape) : Tensor();
    Tensor gw = need_w ? g.new_empty(w_shape) : Tensor();
    Tensor gb = need_b ? g.new_empty({w_shape[0]}) : Tensor();
    if (gc.device().is_cuda()) {
      CQ_CUDA_CALL("conv2d", kernels::conv2d_backward_cuda(gc, sx, sw, x_shape, w_shape, p, gx, gw, gb));
    } else {
      kernels::conv2d_backward_cpu(gc, sx, sw, x_shape, w_shape, p, gx, gw, gb);
    }
    return std::vector<Tensor>{gx, gw, gb};
  });
  return out;
}

Tensor conv2d_scale_shift_act(const Tensor& x, const Tensor& w, const Tensor& scale, const Tensor& shift, int act,
                              const Conv2dParams& p, const Tensor& residual) {
  check_args(x, w, Tensor(), p);
  CQ_CHECK(!(x.runtime().grad_enabled() && (x.requires_grad() || w.requires_grad())),
           "conv2d_scale_shift_act: inference only, but x or w needs a gradient (use conv2d + batch_norm)");
  CQ_CHECK(x.device().is_cpu() && x.dtype() == DType::f32 && p.groups == 1,
           "conv2d_scale_shift_act: CPU, f32, groups 1 only; got x ", x.describe(), " groups ", p.groups);
  int64_t CO = w.shape()[0];
  CQ_CHECK(scale.numel() == CO && shift.numel() == CO && scale.dtype() == DType::f32 && shift.dtype() == DType::f32,
           "conv2d_scale_shift_act: scale ", scale.describe(), " and shift ", shift.describe(), " must be f32 [", CO,
           "]");
  CQ_CHECK(act >= 0 && act <= 2, "conv2d_scale_shift_act: act must be 0 (identity), 1 (relu) or 2 (silu), got ", act);
  int64_t OH = kernels::conv_out_size(x.shape()[2], w.shape()[2], p.stride_h, p.pad_t, p.pad_b);
  int64_t OW = kernels::conv_out_size(x.shape()[3], w.shape()[3], p.stride_w, p.pad_l, p.pad_r);
  Tensor xc = x.detach().contiguous(), wc = w.detach().contiguous();
  Tensor sc = scale.detach().contiguous(), sh = shift.detach().contiguous();
  Tensor out = x.new_empty({x.shape()[0], CO, OH, OW});
  Tensor rc;
  if (residual.defined()) {
    CQ_CHECK(residual.shape() == out.shape() && residual.dtype() == DType::f32 && residual.device().is_cpu(),
             "conv2d_scale_shift_act: residual ", residual.describe(), " must be f32 ", shape_str(out.shape()),
             " on the CPU (the output's)");
    rc = residual.detach().contiguous();
  }
  kernels::conv2d_scale_shift_act_cpu(out, xc, wc, sc.data<float>(), sh.data<float>(), act, p,
                                      rc.defined() ? rc.data<float>() : nullptr);
  return out;
}

}  // namespace cq
