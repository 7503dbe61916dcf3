// Broadcasting elementwise ops (arithmetic, comparisons, where): checks, device dispatch and autograd records.
#include <algorithm>
#include <string>

#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/elementwise_kernels.h"
#include "tensor/autograd.h"
#include "tensor/sum_to.h"

namespace cq {

namespace {

// The broadcast shape of the inputs (numpy rules), or an error naming the op and every input.
Shape broadcast_of(const char* op, const std::vector<Tensor>& ts) {
  size_t r = 0;
  for (const auto& t : ts) r = std::max(r, t.shape().size());
  Shape out(r, 1);
  for (const auto& t : ts) {
    const Shape& s = t.shape();
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = out[i + (r - s.size())];
      if (s[i] == o || s[i] == 1) continue;
      if (o != 1) {
        std::string all;
        for (size_t k = 0; k < ts.size(); ++k) all += (k ? " and " : "") + ts[k].describe();
        fail(op, ": shapes do not broadcast: ", all);
      }
      o = s[i];
    }
  }
  return out;
}

void check_pair(const char* op, const Tensor& a, const Tensor& b) {
  CQ_CHECK(a.defined() && b.defined(), op, ": undefined input tensor (", a.describe(), ", ", b.describe(), ")");
  check_same_device(op, {a, b});
  check_same_dtype(op, {a, b});
}

void run_binary(ew::BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  if (out.device().is_cuda()) {
    CQ_CUDA_CALL("elementwise", kernels::binary_cuda(op, out, a, b));
  } else {
    kernels::binary_cpu(op, out, a, b);
  }
}

void run_binary_grad(ew::BinaryOp op, const Tensor& ga, const Tensor& gb, const Tensor& g, const Tensor& a,
                     const Tensor& b) {
  if (g.device().is_cuda()) {
    CQ_CUDA_CALL("elementwise backward", kernels::binary_grad_cuda(op, ga, gb, g, a, b));
  } else {
    kernels::binary_grad_cpu(op, ga, gb, g, a, b);
  }
}

Tensor binary(const char* name, ew::BinaryOp op, const Tensor& a, const Tensor& b) {
  check_pair(name, a, b);
  CQ_CHECK(is_floating(a.dtype()), name, ": expected f32 or f64 tensors, got ", a.describe(), " and ",
           b.describe());
  Shape shape = broadcast_of(name, {a, b});
  Tensor out = a.new_empty(shape);
  if (out.numel() > 0) run_binary(op, out, a, b);
  if (!needs_grad({a, b})) return out;
  bool na = a.requires_grad(), nb = b.requires_grad();
  Shape sa = a.shape(), sb = b.shape();
  if (op == ew::BinaryOp::add || op == ew::BinaryOp::sub) {
    bool subtract = op == ew::BinaryOp::sub;
    record(name, out, {a, b}, [na, nb, sa, sb, subtract](const Tensor& g) {
      Tensor gb;
      if (nb) gb = subtract ? neg(sum_to(g, sb)) : sum_to(g, sb);
      return std::vector<Tensor>{na ? sum_to(g, sa) : Tensor(), gb};
    });
    return out;
  }
  // Saved detached: the graph edges are recorded separately, the closure only needs the values.
  record(name, out, {a, b}, [op, na, nb, sa, sb, ad = a.detach(), bd = b.detach()](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor ga = na ? gc.new_empty(gc.shape()) : Tensor();
    Tensor gb = nb ? gc.new_empty(gc.shape()) : Tensor();
    if (gc.numel() > 0) run_binary_grad(op, ga, gb, gc, ad, bd);
    return std::vector<Tensor>{na ? sum_to(ga, sa) : Tensor(), nb ? sum_to(gb, sb) : Tensor()};
  });
  return out;
}

Tensor compare(const char* name, ew::CompareOp op, const Tensor& a, const Tensor& b) {
  check_pair(name, a, b);
  Shape shape = broadcast_of(name, {a, b});
  Tensor out = a.new_empty(shape, DType::u8);
  if (out.numel() == 0) return out;
  if (out.device().is_cuda()) {
    CQ_CUDA_CALL(name, kernels::compare_cuda(op, out, a, b));
  } else {
    kernels::compare_cpu(op, out, a, b);
  }
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary("add", ew::BinaryOp::add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary("sub", ew::BinaryOp::sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary("mul", ew::BinaryOp::mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary("div", ew::BinaryOp::div, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary("pow", ew::BinaryOp::pow, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary("maximum", ew::BinaryOp::maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary("minimum", ew::BinaryOp::minimum, a, b); }

Tensor eq(const Tensor& a, const Tensor& b) { return compare("eq", ew::CompareOp::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare("ne", ew::CompareOp::ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare("lt", ew::CompareOp::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare("le", ew::CompareOp::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare("gt", ew::CompareOp::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare("ge", ew::CompareOp::ge, a, b); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_pair("where", a, b);
  CQ_CHECK(cond.defined(), "where: undefined condition tensor");
  CQ_CHECK(cond.dtype() == DType::u8, "where: condition must be u8, got ", cond.describe(), " (a ", a.describe(),
           ", b ", b.describe(), ")");
  check_same_device("where", {cond, a, b});
  Shape shape = broadcast_of("where", {cond, a, b});
  Tensor out = a.new_empty(shape);
  if (out.numel() > 0) {
    if (out.device().is_cuda()) {
      CQ_CUDA_CALL("where", kernels::where_cuda(out, cond, a, b));
    } else {
      kernels::where_cpu(out, cond, a, b);
    }
  }
  if (!needs_grad({a, b})) return out;
  bool na = a.requires_grad(), nb = b.requires_grad();
  Shape sa = a.shape(), sb = b.shape();
  record("where", out, {a, b}, [na, nb, sa, sb, c = cond.detach()](const Tensor& g) {
    Tensor zero = g.new_zeros({});
    return std::vector<Tensor>{na ? sum_to(where(c, g, zero), sa) : Tensor(),
                               nb ? sum_to(where(c, zero, g), sb) : Tensor()};
  });
  return out;
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
// A 0-d tensor rather than x * (1/s): keeps true division's rounding; the scalar fast path makes it as cheap.
Tensor operator/(const Tensor& a, double s) { return div(a, a.new_scalar(s)); }
Tensor operator-(double s, const Tensor& a) { return sub(a.new_scalar(s), a); }
Tensor operator/(double s, const Tensor& a) { return div(a.new_scalar(s), a); }

}  // namespace cq
