// Unary elementwise ops: device dispatch and autograd records.
#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/elementwise_kernels.h"
#include "tensor/autograd.h"

namespace cq {

namespace {

void run_unary(ew::UnaryOp op, ew::UnaryParams p, const Tensor& out, const Tensor& x) {
  if (x.device().is_cuda()) {
    CQ_CUDA_CALL("elementwise", kernels::unary_cuda(op, p, out, x));
  } else {
    kernels::unary_cpu(op, p, out, x);
  }
}

void run_unary_grad(ew::UnaryOp op, ew::UnaryParams p, const Tensor& gx, const Tensor& g, const Tensor& s) {
  if (g.device().is_cuda()) {
    CQ_CUDA_CALL("elementwise backward", kernels::unary_grad_cuda(op, p, gx, g, s));
  } else {
    kernels::unary_grad_cpu(op, p, gx, g, s);
  }
}

ew::Saved saved_of(ew::UnaryOp op) {
  return ew::visit_unary(op, {}, [](auto f) { return decltype(f)::kSaved; });
}

Tensor unary(const char* name, ew::UnaryOp op, const Tensor& x, ew::UnaryParams p = {}) {
  CQ_CHECK(x.defined(), name, ": undefined input tensor");
  CQ_CHECK(is_floating(x.dtype()), name, ": expected an f32 or f64 tensor, got ", x.describe());
  // detach: the contiguous copy is an implementation detail, the graph edge goes straight to x.
  Tensor xc = x.detach().contiguous();
  Tensor out = x.new_empty(x.shape());
  if (out.numel() > 0) run_unary(op, p, out, xc);
  if (!needs_grad({x})) return out;
  switch (op) {
    case ew::UnaryOp::neg:
      record(name, out, {x}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
      return out;
    case ew::UnaryOp::add_scalar:
      record(name, out, {x}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
      return out;
    case ew::UnaryOp::mul_scalar:
      record(name, out, {x}, [s = p.a](const Tensor& g) { return std::vector<Tensor>{mul_scalar(g, s)}; });
      return out;
    default: break;
  }
  Tensor saved = saved_of(op) == ew::Saved::output ? out.detach() : xc;
  record(name, out, {x}, [op, p, saved](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor gx = gc.new_empty(gc.shape());
    if (gx.numel() > 0) run_unary_grad(op, p, gx, gc, saved);
    return std::vector<Tensor>{gx};
  });
  return out;
}

}  // namespace

Tensor relu(const Tensor& x) { return unary("relu", ew::UnaryOp::relu, x); }
Tensor sigmoid(const Tensor& x) { return unary("sigmoid", ew::UnaryOp::sigmoid, x); }
Tensor silu(const Tensor& x) { return unary("silu", ew::UnaryOp::silu, x); }
Tensor gelu(const Tensor& x) { return unary("gelu", ew::UnaryOp::gelu, x); }
Tensor exp(const Tensor& x) { return unary("exp", ew::UnaryOp::exp, x); }
Tensor log(const Tensor& x) { return unary("log", ew::UnaryOp::log, x); }
Tensor sqrt(const Tensor& x) { return unary("sqrt", ew::UnaryOp::sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary("rsqrt", ew::UnaryOp::rsqrt, x); }
Tensor neg(const Tensor& x) { return unary("neg", ew::UnaryOp::neg, x); }
Tensor abs(const Tensor& x) { return unary("abs", ew::UnaryOp::abs, x); }

Tensor clamp(const Tensor& x, double lo, double hi) {
  CQ_CHECK(!(lo > hi), "clamp: lo ", lo, " > hi ", hi, " for ", x.describe());
  return unary("clamp", ew::UnaryOp::clamp, x, {lo, hi});
}

Tensor pow_scalar(const Tensor& x, double p) { return unary("pow_scalar", ew::UnaryOp::pow_scalar, x, {p, 0}); }
Tensor add_scalar(const Tensor& x, double s) { return unary("add_scalar", ew::UnaryOp::add_scalar, x, {s, 0}); }
Tensor mul_scalar(const Tensor& x, double s) { return unary("mul_scalar", ew::UnaryOp::mul_scalar, x, {s, 0}); }

Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double s) { return add_scalar(a, s); }
Tensor operator-(const Tensor& a, double s) { return add_scalar(a, -s); }
Tensor operator*(const Tensor& a, double s) { return mul_scalar(a, s); }
Tensor operator+(double s, const Tensor& a) { return add_scalar(a, s); }
Tensor operator*(double s, const Tensor& a) { return mul_scalar(a, s); }

}  // namespace cq
