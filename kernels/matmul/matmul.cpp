// matmul: shape rule, device dispatch and backward.
#include "kernels/matmul/matmul.h"

#include "kernels/matmul/gemm.h"

#include "tensor/autograd.h"
#include "tensor/backend.h"
#include "tensor/sum_to.h"

namespace cq {
namespace {

// The batched product on graph-free operands of rank >= 2 (1-D promotion is done by the caller).
Tensor matmul_nd(const Tensor& a, const Tensor& b, const Tensor& a_orig, const Tensor& b_orig) {
  int64_t ra = a.dim(), rb = b.dim();
  int64_t M = a.shape()[ra - 2], K = a.shape()[ra - 1], K2 = b.shape()[rb - 2], N = b.shape()[rb - 1];
  CQ_CHECK(K == K2, "matmul: inner dimensions differ: a ", a_orig.describe(), " has K=", K, " but b ",
           b_orig.describe(), " has K=", K2);
  Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "matmul");
  CQ_CHECK(batch.size() + 2 <= static_cast<size_t>(kMaxDims), "matmul: rank of ", a_orig.describe(), " x ",
           b_orig.describe(), " exceeds ", kMaxDims);
  Shape sa = batch, sb = batch, so = batch;
  sa.insert(sa.end(), {M, K});
  sb.insert(sb.end(), {K, N});
  so.insert(so.end(), {M, N});
  Tensor out = a.new_empty(so);
  Tensor ae = a.expand(sa), be = b.expand(sb);
  if (a.device().is_cuda()) {
    CQ_CUDA_CALL("matmul", kernels::matmul_cuda(out, ae, be));
  } else {
    kernels::matmul_cpu(out, ae, be);
  }
  return out;
}

Tensor last2_t(const Tensor& t) { return t.transpose(t.dim() - 2, t.dim() - 1); }

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  CQ_CHECK(a.defined() && b.defined(), "matmul: undefined input");
  check_same_device("matmul", {a, b});
  check_same_dtype("matmul", {a, b});
  CQ_CHECK(is_floating(a.dtype()), "matmul: dtype ", dtype_name(a.dtype()), " not supported (f32, f64 only): a ",
           a.describe(), ", b ", b.describe());
  CQ_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: inputs must have at least 1 dimension, got a ", a.describe(),
           " and b ", b.describe());
  // Promote 1-D operands on graph-free views; the autograd node below connects to the caller's tensors.
  Tensor a2 = a.detach(), b2 = b.detach();
  if (a.dim() == 1) a2 = a2.reshape({1, a.shape()[0]});
  if (b.dim() == 1) b2 = b2.reshape({b.shape()[0], 1});
  Tensor out2 = matmul_nd(a2, b2, a, b);
  Shape so = out2.shape();
  if (b.dim() == 1) so.erase(so.end() - 1);  // N
  if (a.dim() == 1) so.erase(so.end() - (b.dim() == 1 ? 1 : 2));  // M
  Tensor out = out2.view(so);

  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  Tensor sa = need_b ? a2 : Tensor(), sb = need_a ? b2 : Tensor();  // save only what the other gradient needs
  Shape out2_shape = out2.shape(), a_shape = a.shape(), b_shape = b.shape();
  record("matmul", out, {a, b}, [=](const Tensor& g) {
    // A contiguous view rather than reshape: tensor/views.cpp cannot view a 0-d gradient (dot product) as [1, 1].
    Tensor gc = g.contiguous();
    Tensor g2 = make_view(gc, out2_shape, contiguous_strides(out2_shape), gc.offset());
    Tensor ga, gb;
    if (need_a) {
      // a2 [Ba..., M, K] <- sum over broadcast batch of g [B..., M, N] x b^T [B..., N, K]
      Tensor full = matmul_nd(g2, last2_t(sb), g2, sb);
      Shape a2_shape = a_shape;
      if (a_shape.size() == 1) a2_shape = {1, a_shape[0]};
      ga = sum_to(full, a2_shape).reshape(a_shape);
    }
    if (need_b) {
      Shape b2_shape = b_shape;
      if (b_shape.size() == 1) b2_shape = {b_shape[0], 1};
      if (b2_shape.size() == 2 && sa.dim() > 2) {
        // Shared 2-D weight: one GEMM over all batch rows instead of a per-matrix product summed afterwards.
        int64_t K = sa.shape().back(), N = g2.shape().back();
        gb = matmul_nd(last2_t(sa.reshape({-1, K})), g2.reshape({-1, N}), sa, g2);
      } else {
        gb = sum_to(matmul_nd(last2_t(sa), g2, sa, g2), b2_shape);
      }
      gb = gb.reshape(b_shape);
    }
    return std::vector<Tensor>{ga, gb};
  });
  return out;
}

Tensor linear_act_infer(const Tensor& x, const Tensor& w, const Tensor& b, int act) {
  CQ_CHECK(x.defined() && w.defined() && w.dim() == 2 && x.dim() >= 1 && x.size(-1) == w.size(1),
           "linear_act_infer: input ", x.describe(), " does not end in the ", w.defined() ? w.size(-1) : 0,
           " features of weight ", w.describe());
  CQ_CHECK(!(x.runtime().grad_enabled() && (x.requires_grad() || w.requires_grad() || (b.defined() && b.requires_grad()))),
           "linear_act_infer: inference only, but an input needs a gradient (use matmul + add)");
  CQ_CHECK(x.device().is_cpu() && x.dtype() == DType::f32 && w.dtype() == DType::f32 &&
               (!b.defined() || (b.dtype() == DType::f32 && b.numel() == w.size(0))),
           "linear_act_infer: CPU f32 only with a bias of ", w.size(0), " values; got x ", x.describe(), " w ",
           w.describe(), " b ", b.defined() ? b.describe() : std::string("none"));
  CQ_CHECK(act >= 0 && act <= 3, "linear_act_infer: act must be 0..3, got ", act);
  const int64_t K = w.size(1), N = w.size(0), M = K == 0 ? 0 : x.numel() / K;
  Shape out_shape = x.shape();
  out_shape.back() = N;
  Tensor xc = x.detach().contiguous(), wc = w.detach().contiguous();
  Tensor bc = b.defined() ? b.detach().contiguous() : Tensor();
  Tensor out = x.new_empty(out_shape);
  if (out.numel() == 0) return out;
  if (K == 0) return out.fill_(0.0);
  kernels::GemmEpilogue ep;
  ep.act = act;
  ep.col_shift = bc.defined() ? bc.data<float>() : nullptr;
  kernels::gemm_cpu_ep(false, true, M, N, K, xc.data<float>(), K, wc.data<float>(), K, out.data<float>(), N, ep,
                       x.runtime().threads());
  return out;
}

}  // namespace cq
